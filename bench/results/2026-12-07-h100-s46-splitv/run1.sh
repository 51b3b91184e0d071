#!/bin/bash
# Session 46, call 1 (from the repository root): SPLITV's build (kernels/build-probe/splitv: the working tree's
# kernels; the d = 128 Hopper backward with two K buffers and its one V buffer freed at each item's last dP^T, the
# d = 256 one with its V freed there too) against kernels/build (main's kernels). 1. check.py --quick on the probe
# build. 2. ab.py, the backward at d = 128 / 256, both masks, l = 512..2048, four rounds, bwd_dq launched to overlap
# as the package does (FLASH_PDL_DQ=1).
R=$OUT/r1; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/card.txt
cd kernels/test
FLASH_BUILD=../build-probe/splitv timeout 90 python3 check.py --quick > $R/check-quick.txt 2>&1; echo "check rc $?"
grep -E "comparisons|FAIL" $R/check-quick.txt | tail -4
export FLASH_PDL_DQ=1
timeout 330 python3 ab.py ../build ../build-probe/splitv --pass bwd --dims 128,256 --causal both \
  --lengths 512,1024,2048 --rounds 4 > $R/ab-short.txt 2>&1; echo "ab rc $?"; tail -16 $R/ab-short.txt
