#!/bin/bash
# Session 24, run 11. Q4: Q3 with bwd_dq checking its group with one acquire load (the whole count from the host, FlashParams.dq_done_whole; kernels/build_old/q4, d = 256
# only, over q2's build). As run 9: without, then with, the programmatic bwd_dq launch; then check.py with it.
R=$OUT/r11; mkdir -p $R
mkdir -p kernels/build_old/full_q4; cp kernels/build_old/q2/* kernels/build_old/full_q4/; cp kernels/build_old/q4/*.fatbin kernels/build_old/full_q4/
cd kernels/build_old/q2test
timeout 60 python3 ab.py ../../build ../full_q4 --pass bwd --dims 256 --lengths 512,2048 --rounds 4 > $R/ab-nopdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-nopdl.txt | cut -c1-90
FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../../build ../full_q4 --pass bwd --dims 256 --lengths 512,2048 --rounds 4 > $R/ab-pdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-pdl.txt | cut -c1-90
FLASH_PDL_DQ=1 FLASH_BUILD=../full_q4 timeout 100 python3 check.py --quick > $R/check-pdl.txt 2>&1; tail -1 $R/check-pdl.txt
