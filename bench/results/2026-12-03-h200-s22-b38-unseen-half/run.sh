#!/bin/bash
# Session 22, run 5: B38 (d = 256 backward: a warpgroup whose 40 keys no query of the step sees skips S and dP).
R=$OUT/r5; mkdir -p $R
mkdir -p kernels/build_old/r7; cp kernels/build/* kernels/build_old/r7/; cp kernels/build_old/r7.fat/* kernels/build_old/r7/
cd kernels/test
FLASH_BUILD=../build_old/r7 timeout 100 python3 check.py --quick > $R/check.txt 2>&1; tail -2 $R/check.txt
timeout 150 python3 ab.py ../build ../build_old/r7 --pass bwd --dims 256 --lengths 512,1024,2048,4096,8192 --causal both --rounds 4 > $R/ab-bwd.txt 2>&1; tail -12 $R/ab-bwd.txt
FLASH_BUILD=../build_old/r7 timeout 60 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -2 $R/racecheck.txt
