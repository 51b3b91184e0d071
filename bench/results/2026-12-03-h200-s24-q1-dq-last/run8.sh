#!/bin/bash
# Session 24, run 8. Q2: the d = 256 Hopper backward counts each (batch, kv head)'s items once their dQ reductions
# have completed (per consumer warp, a step late), and bwd_dq, launched with programmatic dependent launch
# (FLASH_PDL_DQ=1 in the harness), waits for its group's count instead of the whole grid, so that it runs on the
# multiprocessors the main kernel's last wave leaves idle. kernels/build_old/q2 (harness kernels/build_old/q2test)
# against HEAD's kernels (kernels/build), both with bwd_dq launched that way; check.py with and without it, sanitizers.
R=$OUT/r8; mkdir -p $R
cd kernels/build_old/q2test
FLASH_PDL_DQ=1 FLASH_BUILD=../q2 timeout 120 python3 check.py --quick > $R/check-pdl.txt 2>&1; tail -1 $R/check-pdl.txt; grep FAIL $R/check-pdl.txt | head -5
FLASH_PDL_DQ=1 timeout 200 python3 ab.py ../../build ../q2 --pass bwd --dims 256,128 --lengths 512,1024,2048,4096,8192,16384 --rounds 3 > $R/ab-bwd.txt 2>&1; grep -E "bwd d|mean" $R/ab-bwd.txt | cut -c1-90
FLASH_BUILD=../q2 timeout 120 python3 check.py --quick > $R/check.txt 2>&1; tail -1 $R/check.txt
FLASH_PDL_DQ=1 FLASH_BUILD=../q2 timeout 90 compute-sanitizer --tool memcheck python3 sanitize.py 256 192 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_PDL_DQ=1 FLASH_BUILD=../q2 timeout 90 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
