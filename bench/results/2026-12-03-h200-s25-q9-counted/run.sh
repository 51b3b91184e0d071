#!/bin/bash
# Session 25 on the GPU, from the repository root (carry .gpu-host, node_modules/{koffi,@koromix,fast-check,pure-rand},
# dist, kernels/build = this commit's kernels, kernels/build_old/a = 170bec2's): the GPU suites, check.py with the
# early bwd_dq, the harness A/B at d = 256 l = 512, the package's bench at d = 256 with the peers.
R=$OUT/s25; mkdir -p $R
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
cd kernels/test
FLASH_PDL_DQ=1 timeout 100 python3 -u check.py --quick > $R/check-pdl.txt 2>&1; grep FAIL $R/check-pdl.txt | head -3; tail -1 $R/check-pdl.txt
FLASH_PDL_DQ=1 timeout 30 python3 -u ab.py ../build_old/a ../build --pass bwd --dims 256 --lengths 512 --rounds 2 > $R/ab.txt 2>&1; grep -E "bwd d|mean" $R/ab.txt | cut -c1-90
cd ../..
timeout 50 node dist/src/cli/main.js bench --d 256 --l 512,1024 --save $R/bench-peers.json > $R/bench-peers.txt 2>&1; tail -8 $R/bench-peers.txt
