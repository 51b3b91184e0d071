#!/bin/bash
# Session 27, run 7, from the repository root (kernels/build = DQ2: bwd_dq_det90 with two consumer warpgroups and
# 64-key blocks at d = 256, K and V in rings of their own; the harness encodes its own k / v maps): correctness, the
# kernel-by-kernel profile at d = 256 (compare with ../2026-12-04-h200-s27-dq-det90/r6), synccheck / racecheck.
R=$OUT/s27r7; mkdir -p $R
cd kernels/test
FLASH_PDL_DQ=1 timeout 80 python3 check.py --quick > $R/check.txt 2>&1; grep FAIL $R/check.txt | head -3; tail -1 $R/check.txt
timeout 100 python3 phases.py --det --dims 256,128 --lengths 512,2048 > $R/phases-det.txt 2>&1; grep -A2 "^det" $R/phases-det.txt | grep -E "dq_det90|^det" | cut -c1-80
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool synccheck python3 sanitize.py 256 64 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
