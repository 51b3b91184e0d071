#!/bin/bash
# Session 37, run 1 (session 36's run4.sh, unchanged), from the repository root. (1) fold.patch as stored (the probe's second form: at lq <= 512 the
# batches folded by a mask, b & (FLASH_PROBE_BATCHES - 1); runs 1 and 3's first form computed the fold with 64-bit
# divisions on the consumers' reduction path). kernels/build/b4 = 4 batches (16 MB of dq_accum at l = 512), fold bits
# 7; b4f3 = bits 3 (bwd_dq reads the real rows). (2) side-convert.patch: bwd_pre_side's first 12 (conv12) or 8 (conv8)
# blocks convert dq while the main kernel, on as many fewer blocks, runs; bwd_dq does nothing (launched plainly, after
# both). ab.py base against conv12 and b4 at l = 512 (the device time was nearly spent: conv8, b4f3 not run).
R=$OUT/r1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_AB_B_SPARE_SMS=12 FLASH_AB_B_PDL_DQ=0 FLASH_PDL_DQ=1 timeout 30 python3 ab.py ../build/base ../build/conv12 --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 4 > $R/ab-conv12.txt 2>&1; tail -1 $R/ab-conv12.txt
FLASH_PDL_DQ=1 timeout 30 python3 ab.py ../build/base ../build/b4 --pass bwd --dims 64,128,256 --causal both --lengths 512 --rounds 4 > $R/ab-b4.txt 2>&1; tail -1 $R/ab-b4.txt
