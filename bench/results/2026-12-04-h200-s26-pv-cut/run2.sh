#!/bin/bash
# Session 26, run 2, from the repository root (carry as run1.sh; kernels/build = this commit's kernels, the P V cut
# taken only when the block is cut, kernels/build_old/a = 9ecded8's): check.py, the forward A / B, the GPU suites, the grid.
R=$OUT/s26r2; mkdir -p $R
cd kernels/test
timeout 60 python3 -u check.py --quick > $R/check.txt 2>&1; grep FAIL $R/check.txt | head -3; tail -1 $R/check.txt
timeout 120 python3 -u ab.py ../build_old/a ../build --pass fwd --rounds 4 > $R/ab-fwd.txt 2>&1; grep -E "fwd d|mean" $R/ab-fwd.txt | cut -c1-60
cd ../..
timeout 180 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
FLASH_ATTN_COMMIT=78d86fa timeout 200 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -38 $R/bench.txt
