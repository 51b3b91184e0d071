#!/bin/bash
# Session 47, call 3 (from the repository root): CONV24-TMA (kernels/build-probe/conv-tma: the converters fed by
# bulk copies into five 32 KB shared-memory stages) against kernels/build (main's kernels); ab.py, the backward,
# FLASH_PDL_DQ=1, d = 64 / 128 / 256:
#   1. causal 512, k = 6, 4, 8, 12 converter blocks (four rounds);
#   2. A against A and A against the probe with k = 0, eight rounds each (run1's +1% control);
#   3. non-causal 512 paced in B with k = 6.
R=$OUT/r3; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $R/card.txt
cd kernels/test
export FLASH_PDL_DQ=1
ab() {  # name, B build, rounds, causal, then env assignments for B
  local name=$1 b=$2 rounds=$3 causal=$4; shift 4
  env "$@" timeout 100 python3 ab.py ../build $b --pass bwd --dims 64,128,256 --lengths 512 \
    --causal $causal --rounds $rounds > $R/$name.txt 2>&1; echo "$name rc $?"; grep -E "^bwd|mean" $R/$name.txt
}
P=../build-probe/conv-tma
ab tma-k6 $P 4 yes FLASH_AB_B_SIDE_CONV=6
ab tma-k4 $P 4 yes FLASH_AB_B_SIDE_CONV=4
ab tma-k8 $P 4 yes FLASH_AB_B_SIDE_CONV=8
ab tma-k12 $P 4 yes FLASH_AB_B_SIDE_CONV=12
ab a-a ../build 8 yes
ab tma-k0 $P 8 yes FLASH_AB_B_SIDE_CONV=0
ab tma-full-k6 $P 4 no FLASH_AB_B_PACE_ANY=1 FLASH_AB_B_SIDE_CONV=6
