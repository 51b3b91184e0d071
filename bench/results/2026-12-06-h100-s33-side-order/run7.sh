#!/bin/bash
# Session 33, run 7, from the repository root (kernels/build = this tree's: bwd_dq also waits for its rows' ready
# flags, so bwd_pre_side runs where rows see no key; flashk.py and the host allow it there now): check.py --quick
# (its causal lq > lk and windowed cases with keyless rows at d = 128 / 256 now take the side path), racecheck at
# d = 128, then the GPU suites through the package.
R=$OUT/r7; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_PDL_DQ=1 timeout 100 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check.txt | tail -3
FLASH_PDL_DQ=1 timeout 60 compute-sanitizer --tool racecheck python3 sanitize.py 128 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
cd ../..
timeout 120 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
