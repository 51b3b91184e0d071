#!/bin/bash
# Session 26, run 3, from the repository root (carry .gpu-host, node_modules/{koffi,@koromix,fast-check,pure-rand},
# dist, kernels/build = Q10: the d = 64 / 128 Hopper backward counting its items as d = 256's does,
# kernels/build_old/a = 9ecded8's kernels): check.py and the backward A / B with bwd_dq launched early (as the
# package launches it), the GPU suites, memcheck / racecheck at d = 64 / 128, the grid.
R=$OUT/s26r3; mkdir -p $R
cd kernels/test
FLASH_PDL_DQ=1 timeout 60 python3 -u check.py --quick > $R/check.txt 2>&1; grep FAIL $R/check.txt | head -3; tail -1 $R/check.txt
FLASH_PDL_DQ=1 timeout 150 python3 -u ab.py ../build_old/a ../build --pass bwd --dims 64,128 --rounds 3 > $R/ab-bwd.txt 2>&1; grep -E "bwd d|mean" $R/ab-bwd.txt | cut -c1-60
FLASH_PDL_DQ=1 timeout 60 compute-sanitizer --tool memcheck python3 sanitize.py 64 128 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_PDL_DQ=1 timeout 80 compute-sanitizer --tool racecheck python3 sanitize.py 64 128 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
cd ../..
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
FLASH_ATTN_COMMIT=$1 timeout 150 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -5 $R/bench.txt
