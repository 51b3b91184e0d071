#!/bin/bash
# Session 27, run 4, from the repository root (kernels/build = DQ1 with d = 256 added: one consumer warpgroup over
# bwd_wide's maps; kernels/build_old/a = 6c6067a's): correctness, the d = 256 deterministic A/B, bench.py --det (the
# deterministic backward's cost against the default one, every head dim), sanitizers at d = 256, GPU suites.
R=$OUT/s27r4; mkdir -p $R
cd kernels/test
FLASH_BUILD=../build FLASH_PDL_DQ=1 timeout 80 python3 check.py --quick > $R/check.txt 2>&1; grep -E "comparisons|FAIL" $R/check.txt | tail -4
timeout 100 python3 ab.py ../build_old/a ../build --pass bwd --dims 256 --lengths 512,2048,8192 --deterministic --rounds 2 > $R/ab-det.txt 2>&1; tail -1 $R/ab-det.txt
timeout 150 python3 bench.py --det > $R/bench-det.txt 2>&1; grep -c "deterministic bwd" $R/bench-det.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool memcheck python3 sanitize.py 256 200 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool synccheck python3 sanitize.py 256 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
cd ../..
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
