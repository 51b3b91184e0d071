#!/bin/bash
# Session 27, run 2, from the repository root (kernels/build = the deterministic backward's dS kept in registers, its consumer compiled per mode (WITH_DQ),
# kernels/build_old/a = 6c6067a's): correctness, the deterministic A/B, a default-mode A/B, synccheck, GPU suites.
R=$OUT/s27r2; mkdir -p $R
cd kernels/test
FLASH_BUILD=../build FLASH_PDL_DQ=1 timeout 60 python3 check.py --quick > $R/check.txt 2>&1; tail -2 $R/check.txt
timeout 200 python3 ab.py ../build_old/a ../build --pass bwd --dims 64,128 --lengths 1024,4096,16384 --deterministic --rounds 2 > $R/ab-det.txt 2>&1; tail -1 $R/ab-det.txt
timeout 240 python3 ab.py ../build_old/a ../build --pass bwd --dims 64,128 --rounds 4 > $R/ab-default.txt 2>&1; tail -1 $R/ab-default.txt
FLASH_PDL_DQ=1 timeout 90 compute-sanitizer --tool synccheck python3 sanitize.py 64 128 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
FLASH_PDL_DQ=1 timeout 90 compute-sanitizer --tool racecheck python3 sanitize.py 64 128 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
cd ../..
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
