#!/bin/bash
# Session 47, call 5 (from the repository root): LASTDQ's bounds (lastdq.patch; dq wrong by design) against
# kernels/build: the d = 128 backward without its items' last-step dQ reduction (nolastflush) and without the
# last-step dQ at all (nolastdq: no wait for the other warpgroup's dS, no product, no reduction). ab.py, the backward,
# d = 128, both masks, l = 512 and 2048, four rounds, FLASH_PDL_DQ=1.
R=$OUT/r6; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $R/card.txt
cd kernels/test
export FLASH_PDL_DQ=1
for b in nofirstflush; do
  timeout 120 python3 ab.py ../build ../build-probe/$b --pass bwd --dims 128 --causal both --lengths 512,2048 \
    --rounds 4 > $R/$b.txt 2>&1; echo "$b rc $?"; grep -E "^bwd|mean" $R/$b.txt
done
