#!/bin/bash
# Session 28, run 10, from the repository root: DQ7 = DQ5 with o by TMA through the fifth map (harness only) into the second V buffer, with a
# transposing reduction (kernels/build_old/w3; d = 64 / 128 as kept) against the kept build (kernels/build, whose
# d = 256 deterministic path is 28d3fba's): correctness, sanitizers at d = 256, the A / B, per-kernel times.
R=$OUT/s28r10; mkdir -p $R
cd kernels/test
FLASH_BUILD=../build_old/w3 timeout 90 python3 check.py --quick > $R/check.txt 2>&1; grep -E "comparisons|FAIL" $R/check.txt | tail -3
FLASH_BUILD=../build_old/w3 timeout 60 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
FLASH_BUILD=../build_old/w3 timeout 60 compute-sanitizer --tool synccheck python3 sanitize.py 256 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
FLASH_BUILD=../build_old/w3 timeout 60 compute-sanitizer --tool memcheck python3 sanitize.py 256 200 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
timeout 120 python3 ab.py ../build ../build_old/w3 --pass bwd --dims 256 --lengths 512,2048,8192 --deterministic --rounds 2 > $R/ab-det.txt 2>&1; tail -1 $R/ab-det.txt
FLASH_BUILD=../build_old/w3 timeout 80 python3 phases.py --det --dims 256 --lengths 512,2048 > $R/phases-det.txt 2>&1; grep -c us $R/phases-det.txt
