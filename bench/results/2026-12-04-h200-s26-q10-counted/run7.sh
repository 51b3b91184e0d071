#!/bin/bash
# Session 26, run 7, from the repository root (carry as run6.sh; kernels/build = 6c6067a's): the GPU suites and
# racecheck / memcheck at d = 64 / 128 on the final kernels.
R=$OUT/s26r7; mkdir -p $R
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
cd kernels/test
FLASH_PDL_DQ=1 timeout 90 compute-sanitizer --tool racecheck python3 sanitize.py 64 128 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
FLASH_PDL_DQ=1 timeout 90 compute-sanitizer --tool memcheck python3 sanitize.py 64 128 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
