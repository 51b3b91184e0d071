#!/bin/bash
# Session 35, run 1, from the repository root: kernels/build = 720af2b's kernels; kernels/build/half = the same bf16
# d = 64 / 128 / 256 with probe-half.patch (each dQ block's second box not reduced: half the reduce bytes, dq wrong,
# timed only); kernels/build/chunkall = chunk-all.patch (s34's run7: chunks of 16 at every length); kernels/build/pairs
# = pairs.patch (DqPair at d = 128; kernels/test/flashk.py launches it in clusters of two where it pairs).
# 1. ab.py base against half. 2. ab.py base against chunkall at the head-major causal lengths. 3. racecheck at d = 256
# on 720af2b's kernels. 4. pairs: check_pairs.py, check.py --quick, ab.py base against pairs (non-causal d = 128),
# racecheck and synccheck on paired launches.
R=$OUT/r1; mkdir -p $R; S=$PWD/bench/results/2026-12-06-h100-s35-dq-pairs
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_BUILD=../build/pairs timeout 120 python3 $S/check_pairs.py > $R/check-pairs.txt 2>&1; echo "check_pairs rc $?"; tail -3 $R/check-pairs.txt
FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../build ../build/pairs --pass bwd --dims 128 --causal no --lengths 512,1024,2048,4096,8192,16384 --rounds 6 > $R/ab-pairs.txt 2>&1; tail -1 $R/ab-pairs.txt
FLASH_PDL_DQ=1 timeout 90 python3 ab.py ../build ../build/half --pass bwd --dims 64,128,256 --causal both --lengths 512,2048,8192 --rounds 4 > $R/ab-half.txt 2>&1; tail -1 $R/ab-half.txt
FLASH_BUILD=../build/pairs FLASH_PDL_DQ=1 timeout 60 compute-sanitizer --tool racecheck python3 $S/sanitize_pairs.py > $R/racecheck-pairs.txt 2>&1; tail -2 $R/racecheck-pairs.txt
FLASH_BUILD=../build/pairs FLASH_PDL_DQ=1 timeout 60 compute-sanitizer --tool synccheck python3 $S/sanitize_pairs.py > $R/synccheck-pairs.txt 2>&1; tail -2 $R/synccheck-pairs.txt
FLASH_BUILD=../build/pairs FLASH_PDL_DQ=1 timeout 60 python3 check.py --quick > $R/check-quick-pairs.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check-quick-pairs.txt | tail -3
FLASH_PDL_DQ=1 timeout 70 python3 ab.py ../build ../build/chunkall --pass bwd --dims 64,128,256 --causal yes --lengths 8192,16384 --rounds 6 > $R/ab-chunkall.txt 2>&1; tail -1 $R/ab-chunkall.txt
FLASH_PDL_DQ=1 timeout 90 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck-256.txt 2>&1; tail -1 $R/racecheck-256.txt
