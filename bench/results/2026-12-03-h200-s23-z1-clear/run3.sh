#!/bin/bash
# Session 23, run 3: where Z1's second version loses at d = 64 / 128. Variants of its sm_90a fatbins (d = 64, 128):
# nf = no fence.proxy.async in the consumers at each item, nw = no wait (nor atomicMax) in the producer per item,
# nfw = neither (the clearing warps alone), off = no clearing at all (dq wrong: bwd_pre leaves dq_accum as it was;
# times the upper bound of the change). Timing only; A = the kernels before Z1.
R=$OUT/r3; mkdir -p $R
for v in nf nw nfw off; do mkdir -p kernels/build_old/full_$v; cp kernels/build/* kernels/build_old/full_$v/; cp kernels/build_old/$v/* kernels/build_old/full_$v/; done
cd kernels/test
for v in z1 nf nw nfw off; do
  B=../build_old/full_$v; [ $v = z1 ] && B=../build
  echo "== $v" >> $R/ab-bwd.txt
  timeout 80 python3 ab.py ../build_old/base $B --pass bwd --dims 64,128 --lengths 512,2048 --rounds 2 >> $R/ab-bwd.txt 2>&1
done
grep -E "==|bwd d|mean" $R/ab-bwd.txt | cut -c1-75
