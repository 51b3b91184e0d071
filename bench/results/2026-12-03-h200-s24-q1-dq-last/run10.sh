#!/bin/bash
# Session 24, run 10. Q3: Q2 with the count moved before the item's dK / dV stores (kernels/build_old/q3, d = 256
# only, over q2's build). As run 9: without, then with, the programmatic bwd_dq launch; then check.py with it.
R=$OUT/r10; mkdir -p $R
mkdir -p kernels/build_old/full_q3; cp kernels/build_old/q2/* kernels/build_old/full_q3/; cp kernels/build_old/q3/*.fatbin kernels/build_old/full_q3/
cd kernels/build_old/q2test
timeout 60 python3 ab.py ../../build ../full_q3 --pass bwd --dims 256 --lengths 512,2048 --rounds 4 > $R/ab-nopdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-nopdl.txt | cut -c1-90
FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../../build ../full_q3 --pass bwd --dims 256 --lengths 512,2048 --rounds 4 > $R/ab-pdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-pdl.txt | cut -c1-90
FLASH_PDL_DQ=1 FLASH_BUILD=../full_q3 timeout 100 python3 check.py --quick > $R/check-pdl.txt 2>&1; tail -1 $R/check-pdl.txt
