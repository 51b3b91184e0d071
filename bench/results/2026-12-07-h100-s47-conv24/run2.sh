#!/bin/bash
# Session 47, call 2 (from the repository root): (1) ab.py A against A (kernels/build twice: how far two builds'
# buffers alone move the causal 512 rows), then A against the probe build with no converters (k = 0: run1's +1%
# control), eight rounds each; (2) the converter sweep's k = 16 and 20 (four rounds).
R=$OUT/r2; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $R/card.txt
cd kernels/test
export FLASH_PDL_DQ=1
ab() {  # name, B build, rounds, then env assignments for B
  local name=$1 b=$2 rounds=$3; shift 3
  env "$@" timeout 100 python3 ab.py ../build $b --pass bwd --dims 64,128,256 --lengths 512 \
    --causal yes --rounds $rounds > $R/$name.txt 2>&1; echo "$name rc $?"; grep -E "^bwd|mean" $R/$name.txt
}
ab a-a ../build 8
ab causal-k0-8r ../build-probe/conv 8 FLASH_AB_B_SIDE_CONV=0
ab a-a-again ../build 8
ab causal-k16 ../build-probe/conv 4 FLASH_AB_B_SIDE_CONV=16
ab causal-k20 ../build-probe/conv 4 FLASH_AB_B_SIDE_CONV=20
