#!/bin/bash
# Session 35, run 2: kernels/build/pairs rebuilt (a cluster barrier at the block's end; bf16 d = 64 / 128 / 256 and
# f16 d = 128). Why run 1's pairs lost 40%: the grid flashk.py chose (FLASH_PAIR_DEBUG), then ab.py against the base
# with the grid forced to 132 blocks, and with the pairs build unpaired (FLASH_BWD_PAIRS=0: its layout alone);
# (check_pairs.py and the sanitizers dropped: the session's device time was short). kernels/build: 720af2b with rows.cuh's bwd_pre / bwd_pre_side
# rows in one helper (pre_rows; its fatbins differ from 720af2b's): check.py --quick and the GPU suites on it.
R=$OUT/r2; mkdir -p $R; S=$PWD/bench/results/2026-12-06-h100-s35-dq-pairs
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_PAIR_DEBUG=1 FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../build ../build/pairs --pass bwd --dims 128 --causal no --lengths 2048,8192 --rounds 3 > $R/ab-pairs.txt 2>&1; grep -m1 pairs: $R/ab-pairs.txt; tail -1 $R/ab-pairs.txt
FLASH_PAIR_GRID=132 FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../build ../build/pairs --pass bwd --dims 128 --causal no --lengths 512,2048,8192 --rounds 3 > $R/ab-pairs-132.txt 2>&1; tail -1 $R/ab-pairs-132.txt
FLASH_BWD_PAIRS=0 FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../build ../build/pairs --pass bwd --dims 128 --causal no --lengths 512,2048,8192 --rounds 3 > $R/ab-unpaired.txt 2>&1; tail -1 $R/ab-unpaired.txt
FLASH_PDL_DQ=1 timeout 60 python3 check.py --quick > $R/check-quick.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -2
(cd ../.. && timeout 130 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1; grep -E "^ℹ (tests|pass|fail|skipped)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -20)
