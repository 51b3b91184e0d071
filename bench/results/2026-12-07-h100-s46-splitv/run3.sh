#!/bin/bash
# Session 46, call 3 (main's kernels, kernels/build; no patch needed): compute-sanitizer's initcheck, which
# ../shared/docs/testing.md lists beside memcheck, racecheck and synccheck and which no session has run yet, on
# sanitize.py's shapes (GQA, windows, lq != lk, a paced side, more items than multiprocessors; default and
# deterministic backward) at every head dim it covers: the Hopper kernels first, then the sm_80 family alone
# (FLASH_PATH=sm80: flashk.py then loads no sm_90a entry).
R=$OUT/r3; mkdir -p $R
export PYTHONUNBUFFERED=1
cd kernels/test
timeout 240 compute-sanitizer --tool initcheck python3 sanitize.py 64 128 256 > $R/initcheck-sm90.txt 2>&1
echo "initcheck sm90 rc $?"; tail -2 $R/initcheck-sm90.txt
FLASH_PATH=sm80 timeout 300 compute-sanitizer --tool initcheck python3 sanitize.py > $R/initcheck-sm80.txt 2>&1
echo "initcheck sm80 rc $?"; tail -2 $R/initcheck-sm80.txt
