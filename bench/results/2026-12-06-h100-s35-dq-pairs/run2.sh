#!/bin/bash
# Session 35, run 2: kernels/build/pairs rebuilt (a cluster barrier at the block's end; bf16 d = 64 / 128 / 256 and
# f16 d = 128). Why run 1's pairs lost 40%: the grid flashk.py chose (FLASH_PAIR_DEBUG), then ab.py against the base
# with the grid forced to 132 blocks, and with the pairs build unpaired (FLASH_BWD_PAIRS=0: its layout alone);
# check_pairs.py, racecheck / synccheck on paired launches.
R=$OUT/r2; mkdir -p $R; S=$PWD/bench/results/2026-12-06-h100-s35-dq-pairs
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_PAIR_DEBUG=1 FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../build ../build/pairs --pass bwd --dims 128 --causal no --lengths 2048,8192 --rounds 3 > $R/ab-pairs.txt 2>&1; grep -m1 pairs: $R/ab-pairs.txt; tail -1 $R/ab-pairs.txt
FLASH_PAIR_GRID=132 FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../build ../build/pairs --pass bwd --dims 128 --causal no --lengths 512,2048,4096,8192 --rounds 4 > $R/ab-pairs-132.txt 2>&1; tail -1 $R/ab-pairs-132.txt
FLASH_SIDE_PRE=0 FLASH_PAIR_GRID=132 FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../build ../build/pairs --pass bwd --dims 128 --causal no --lengths 512,2048,8192 --rounds 3 > $R/ab-pairs-132-noside.txt 2>&1; tail -1 $R/ab-pairs-132-noside.txt
FLASH_BWD_PAIRS=0 FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../build ../build/pairs --pass bwd --dims 128 --causal no --lengths 512,2048,8192 --rounds 3 > $R/ab-unpaired.txt 2>&1; tail -1 $R/ab-unpaired.txt
FLASH_BUILD=../build/pairs timeout 120 python3 $S/check_pairs.py > $R/check-pairs.txt 2>&1; echo "check_pairs rc $?"; grep -E "pairs:|FAIL" $R/check-pairs.txt | head -5
FLASH_BUILD=../build/pairs FLASH_PDL_DQ=1 timeout 60 compute-sanitizer --tool racecheck python3 $S/sanitize_pairs.py > $R/racecheck-pairs.txt 2>&1; tail -1 $R/racecheck-pairs.txt
FLASH_BUILD=../build/pairs FLASH_PDL_DQ=1 timeout 60 compute-sanitizer --tool synccheck python3 $S/sanitize_pairs.py 2>&1 | tail -3 > $R/synccheck-pairs.txt; tail -1 $R/synccheck-pairs.txt
