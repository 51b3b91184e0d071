#!/bin/bash
# Session 46, run1.sh cut to what decides SPLITV when little device time is left: check.py --quick on the probe
# build, then ab.py at l = 512 only (d = 128 / 256, both masks, four rounds, FLASH_PDL_DQ=1).
R=$OUT/r1s; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/card.txt
cd kernels/test
FLASH_BUILD=../build-probe/splitv timeout 90 python3 check.py --quick > $R/check-quick.txt 2>&1; echo "check rc $?"
grep -E "comparisons|FAIL" $R/check-quick.txt | tail -4
export FLASH_PDL_DQ=1
timeout 150 python3 ab.py ../build ../build-probe/splitv --pass bwd --dims 128,256 --causal both \
  --lengths 512 --rounds 4 > $R/ab-512.txt 2>&1; echo "ab rc $?"; tail -8 $R/ab-512.txt
