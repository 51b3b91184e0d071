#!/bin/bash
# Session 23, run 4: Z1's second version again, against nw2 = the producer raises the front but does not wait for
# its item's group (timing only: dq may be wrong), nc = the clearing warps count units without storing zeros (timing
# only), off = as run 3. d = 64, 128; A = the kernels before Z1.
R=$OUT/r4; mkdir -p $R
for v in nw2 nc off; do mkdir -p kernels/build_old/full_$v; cp kernels/build/* kernels/build_old/full_$v/; cp kernels/build_old/$v/* kernels/build_old/full_$v/; done
cd kernels/test
for v in z1 nw2 nc off; do
  B=../build_old/full_$v; [ $v = z1 ] && B=../build
  echo "== $v" >> $R/ab-bwd.txt
  timeout 80 python3 ab.py ../build_old/base $B --pass bwd --dims 64,128 --lengths 512,2048 --rounds 2 >> $R/ab-bwd.txt 2>&1
done
grep -E "==|bwd d|mean" $R/ab-bwd.txt | cut -c1-75
