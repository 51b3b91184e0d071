#!/bin/bash
# Session 28, run 5, from the repository root (kernels/build = DQ3 as kept: the Hopper dq pass computes D at d = 64 /
# 128 and runs first, no bwd_pre; d = 256 as before; kernels/build_old/b = 28d3fba's): correctness (--big too),
# sanitizers, the deterministic A / B at every head dim, bench.py --det, the GPU suites.
R=$OUT/s28r5; mkdir -p $R
cd kernels/test
timeout 120 python3 check.py --quick --big > $R/check.txt 2>&1; grep -E "comparisons|FAIL" $R/check.txt | tail -3
timeout 60 compute-sanitizer --tool memcheck python3 sanitize.py 64 96 128 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
timeout 60 compute-sanitizer --tool racecheck python3 sanitize.py 64 128 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
timeout 60 compute-sanitizer --tool synccheck python3 sanitize.py 64 128 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
timeout 150 python3 ab.py ../build_old/b ../build --pass bwd --dims 64,128,256 --lengths 512,2048,8192 --deterministic --rounds 2 > $R/ab-det.txt 2>&1; tail -1 $R/ab-det.txt
timeout 120 python3 bench.py --det > $R/bench-det.txt 2>&1; grep -c "deterministic bwd" $R/bench-det.txt
cd ../..
timeout 170 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
