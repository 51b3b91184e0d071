#!/bin/bash
# Session 47, call 1 (from the repository root): CONV24, converter blocks beside the paced bwd_pre_side
# (kernels/build-probe/conv, built with FLASH_PROBE_SIDE_CONV) against kernels/build (main's kernels). ab.py, the
# backward, four rounds, bwd_dq launched to overlap as the package does (FLASH_PDL_DQ=1):
#   1. causal l = 512 (paced in both builds), d = 64 / 128 / 256, with k = 8, 12, 4 converter blocks (B's main
#      kernel on 132 - 24 - k multiprocessors, no bwd_dq);
#   2. causal 512 with k = 0 (the probe build as A runs: the control);
#   3. non-causal 512 paced in B (FLASH_AB_B_PACE_ANY=1) with k = 8, and with k = 0 (pacing alone).
R=$OUT/r1; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $R/card.txt
cd kernels/test
export FLASH_PDL_DQ=1
ab() {  # name, then env assignments for B
  local name=$1; shift
  env "$@" timeout 100 python3 ab.py ../build ../build-probe/conv --pass bwd --dims 64,128,256 --lengths 512 \
    --causal ${CAUSAL:-yes} --rounds 4 > $R/$name.txt 2>&1; echo "$name rc $?"; grep -E "^bwd|mean" $R/$name.txt
}
CAUSAL=yes ab causal-k8 FLASH_AB_B_SIDE_CONV=8
CAUSAL=yes ab causal-k12 FLASH_AB_B_SIDE_CONV=12
CAUSAL=yes ab causal-k4 FLASH_AB_B_SIDE_CONV=4
CAUSAL=yes ab causal-k0 FLASH_AB_B_SIDE_CONV=0
CAUSAL=no ab full-k8 FLASH_AB_B_PACE_ANY=1 FLASH_AB_B_SIDE_CONV=8
CAUSAL=no ab full-k0 FLASH_AB_B_PACE_ANY=1 FLASH_AB_B_SIDE_CONV=0
