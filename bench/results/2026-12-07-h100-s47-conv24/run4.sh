#!/bin/bash
# Session 47, call 4 (from the repository root): EPISPLIT (episplit.patch: s46's splitv.patch and s37's epi-tma.patch
# together; the d = 128 backward's dK / dV by TMA stores and its next K loading during the steps, its V after the
# last dP^T; d = 256 the early V only) against kernels/build (main's kernels). ab.py, the backward, d = 128 / 256,
# both masks, l = 512..2048, four rounds, FLASH_PDL_DQ=1.
R=$OUT/r4; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $R/card.txt
cd kernels/test
export FLASH_PDL_DQ=1
timeout 300 python3 ab.py ../build ../build-probe/episplit --pass bwd --dims 128,256 --causal both \
  --lengths 512,1024,2048 --rounds 4 > $R/ab.txt 2>&1; echo "ab rc $?"; grep -E "^bwd|mean" $R/ab.txt
