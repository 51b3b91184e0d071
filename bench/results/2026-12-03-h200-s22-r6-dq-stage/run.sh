#!/bin/bash
# Session 22, run 4: R6 (dQ staging without half-warp bank conflicts) at ac061e6: correctness, A/B, racecheck, grid, suites.
R=$OUT/r4; mkdir -p $R
N=$PWD/kernels/build_old/r6; cp kernels/build/ring* $N/
cd kernels/test
FLASH_BUILD=../build_old/r6 timeout 120 python3 check.py --quick > $R/check.txt 2>&1; tail -2 $R/check.txt
timeout 200 python3 ab.py ../build ../build_old/r6 --pass bwd --dims 64,128,256 --lengths 512,2048,8192 --causal both --rounds 4 > $R/ab-bwd.txt 2>&1; tail -20 $R/ab-bwd.txt
FLASH_BUILD=../build_old/r6 timeout 90 compute-sanitizer --tool racecheck python3 sanitize.py 128 256 > $R/racecheck.txt 2>&1; tail -2 $R/racecheck.txt
cd ../..
FLASH_ATTN_KERNEL_DIR=$N FLASH_ATTN_COMMIT=ac061e6 timeout 200 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -42 $R/bench.txt
FLASH_ATTN_KERNEL_DIR=$N timeout 120 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/suites.txt 2>&1; tail -10 $R/suites.txt
