#!/bin/bash
# Session 34, run 2, from the repository root: DQ-turn (bench/NOTES.md), each item's walk over its query blocks
# started at a turn so that the items running at once add dQ into different rows. kernels/build = the full build with
# FLASH_DQ_TURN = 2 (non-causal: the turn j0 / BR mod the item's blocks; causal / right window: the item's place in its
# KEY_CHUNK, a quarter of its blocks each); kernels/build/turn1 = bf16 d = 128 / 256 with FLASH_DQ_TURN = 1 (the
# non-causal turn only); kernels/build/base = HEAD 115d3af's bf16 d = 128 / 256 kernels.
# 1. ab.py base against turn1 and against turn2. 2. check.py --quick on the full FLASH_DQ_TURN = 2 build.
R=$OUT/r2; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
for v in turn1 turn2; do
  FLASH_PDL_DQ=1 timeout 150 python3 ab.py ../build/base ../build/$v --pass bwd --dims 128,256 --lengths 512,1024,2048,8192 --rounds 4 > $R/ab-$v.txt 2>&1; tail -1 $R/ab-$v.txt
done
FLASH_PDL_DQ=1 timeout 110 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check.txt | tail -3
