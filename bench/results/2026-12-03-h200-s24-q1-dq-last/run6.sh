#!/bin/bash
# Session 24, run 6. Q1: the d = 256 Hopper backward writes dq itself (each (batch, kv head)'s last item converts
# its dq_accum rows; no bwd_dq), kernels/build_old/q1 with its harness in kernels/build_old/q1test, against HEAD's
# kernels (kernels/build); check.py, memcheck, racecheck.
R=$OUT/r6; mkdir -p $R
cd kernels/build_old/q1test
FLASH_BUILD=../q1 timeout 120 python3 check.py --quick > $R/check.txt 2>&1; tail -1 $R/check.txt; grep FAIL $R/check.txt | head -5
timeout 150 python3 ab.py ../../build ../q1 --pass bwd --dims 256 --lengths 512,1024,2048,4096,8192,16384 --rounds 3 > $R/ab-bwd.txt 2>&1; grep -E "bwd d|mean" $R/ab-bwd.txt | cut -c1-90
FLASH_BUILD=../q1 timeout 90 compute-sanitizer --tool memcheck python3 sanitize.py 256 192 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_BUILD=../q1 timeout 90 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
