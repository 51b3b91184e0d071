#!/bin/bash
# Session 24, run 9. Q2's split: without programmatic launch of bwd_dq (bwd_dq after the whole main kernel, as in
# the harness before), Q2 against HEAD's kernels measures the counting's cost alone; HEAD's kernels with against
# without the programmatic bwd_dq launch measures what that launch gives by itself.
R=$OUT/r9; mkdir -p $R
cd kernels/build_old/q2test
timeout 60 python3 ab.py ../../build ../q2 --pass bwd --dims 256 --lengths 512,2048 --rounds 4 > $R/ab-nopdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-nopdl.txt | cut -c1-90
FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../../build ../q2 --pass bwd --dims 256 --lengths 512,2048 --rounds 4 > $R/ab-pdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-pdl.txt | cut -c1-90
