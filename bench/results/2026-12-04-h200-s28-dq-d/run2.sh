#!/bin/bash
# Session 28, run 2, from the repository root (kernels/build = DQ3 with the row dots overlapped: the Hopper dq pass computes D itself and runs
# first, no bwd_pre; kernels/build_old/b = 28d3fba's): correctness, sanitizers, the deterministic A / B, per-kernel
# times, and the deterministic backward's cost against the default one.
R=$OUT/s28r2; mkdir -p $R
cd kernels/test
timeout 90 python3 check.py --quick > $R/check.txt 2>&1; grep -E "comparisons|FAIL" $R/check.txt | tail -4
timeout 80 compute-sanitizer --tool memcheck python3 sanitize.py 64 256 200 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
timeout 80 compute-sanitizer --tool racecheck python3 sanitize.py 64 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
timeout 60 compute-sanitizer --tool synccheck python3 sanitize.py 64 256 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
timeout 150 python3 ab.py ../build_old/b ../build --pass bwd --dims 64,128,256 --lengths 512,2048 --deterministic --rounds 2 > $R/ab-det.txt 2>&1; tail -1 $R/ab-det.txt
timeout 100 python3 phases.py --det --dims 128,256 --lengths 512,2048 > $R/phases-det.txt 2>&1; grep -c "us" $R/phases-det.txt
