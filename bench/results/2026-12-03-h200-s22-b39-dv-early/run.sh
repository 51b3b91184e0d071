#!/bin/bash
# Session 22, run 6: B39 (d = 256 backward: dV^T issued before dS is stored).
R=$OUT/r6; mkdir -p $R
mkdir -p kernels/build_old/r8; cp kernels/build/* kernels/build_old/r8/; cp kernels/build_old/r8.fat/* kernels/build_old/r8/
cd kernels/test
FLASH_BUILD=../build_old/r8 timeout 100 python3 check.py --quick > $R/check.txt 2>&1; tail -2 $R/check.txt
timeout 150 python3 ab.py ../build ../build_old/r8 --pass bwd --dims 256 --lengths 512,1024,2048,4096,8192 --causal both --rounds 4 > $R/ab-bwd.txt 2>&1; tail -12 $R/ab-bwd.txt
FLASH_BUILD=../build_old/r8 timeout 60 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -2 $R/racecheck.txt
