#!/bin/bash
# Session 27, run 3, from the repository root (kernels/build = the Hopper bwd_dq_det, dq_det.cuh, beside D1's
# kernels; kernels/build_old/a = 6c6067a's, whose deterministic backward runs the sm_80 bwd_dq_det): correctness,
# the deterministic A/B, sanitizers, GPU suites.
R=$OUT/s27r3; mkdir -p $R
cd kernels/test
FLASH_BUILD=../build FLASH_PDL_DQ=1 timeout 80 python3 check.py --quick > $R/check.txt 2>&1; grep -E "comparisons|FAIL" $R/check.txt | tail -12
timeout 200 python3 ab.py ../build_old/a ../build --pass bwd --dims 64,128 --lengths 512,2048,8192 --deterministic --rounds 2 > $R/ab-det.txt 2>&1; tail -1 $R/ab-det.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool memcheck python3 sanitize.py 64 128 96 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool racecheck python3 sanitize.py 64 128 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool synccheck python3 sanitize.py 64 128 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
cd ../..
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
