#!/bin/bash
# Session 32, run 1, from the repository root (kernels/build = this commit's, with bwd_pre_side): correctness of the
# side path. check.py --quick (every head dim and dtype: bwd_pre_side beside the Hopper bwd at d = 128 / 256, bwd_pre
# before it elsewhere), compute-sanitizer on small shapes of each, then the GPU suites through the package.
R=$OUT/r1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_PDL_DQ=1 timeout 150 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check.txt | tail -6
FLASH_PDL_DQ=1 timeout 90 compute-sanitizer --tool memcheck python3 sanitize.py 128 256 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_PDL_DQ=1 timeout 90 compute-sanitizer --tool racecheck python3 sanitize.py 128 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
FLASH_PDL_DQ=1 timeout 90 compute-sanitizer --tool synccheck python3 sanitize.py 128 256 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
cd ../..
timeout 200 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
