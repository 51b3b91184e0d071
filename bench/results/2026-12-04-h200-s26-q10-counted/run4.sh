#!/bin/bash
# Session 26, run 4, from the repository root (carry as run3.sh; kernels/build = this commit's: Q10 with the start
# barriers alternating by item parity): check.py (with the new one-step deterministic d = 64 cases) and the GPU suites,
# Q10's backward A / B again against 9ecded8 (four rounds, d = 64 / 128, l <= 2048), then a second grid.
R=$OUT/s26r4; mkdir -p $R
cd kernels/test
FLASH_PDL_DQ=1 timeout 60 python3 -u check.py --quick > $R/check.txt 2>&1; grep FAIL $R/check.txt | head -3; tail -1 $R/check.txt
FLASH_PDL_DQ=1 timeout 120 python3 -u ab.py ../build_old/a ../build --pass bwd --dims 64,128 --lengths 512,1024,2048 --rounds 4 > $R/ab-bwd.txt 2>&1; grep -E "bwd d|mean" $R/ab-bwd.txt | cut -c1-60
cd ../..
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
FLASH_ATTN_COMMIT=$1 timeout 170 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -5 $R/bench.txt
