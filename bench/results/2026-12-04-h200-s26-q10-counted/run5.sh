#!/bin/bash
# Session 26, run 5, from the repository root (carry as run3.sh; kernels/build = 1c30327's): memcheck and racecheck
# of the d = 64 / 128 Hopper backward with the start barriers by item parity, bwd_dq launched early.
R=$OUT/s26r5; mkdir -p $R
cd kernels/test
FLASH_PDL_DQ=1 timeout 90 compute-sanitizer --tool memcheck python3 sanitize.py 64 128 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_PDL_DQ=1 timeout 120 compute-sanitizer --tool racecheck python3 sanitize.py 64 128 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
FLASH_PDL_DQ=1 timeout 120 compute-sanitizer --tool synccheck python3 sanitize.py 64 128 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
