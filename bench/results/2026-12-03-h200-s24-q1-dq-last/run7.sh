#!/bin/bash
# Session 24, run 7. Q1's cost split (timing only; dq wrong or unordered): q1cnt = items counted but no group
# converted (no bwd_dq either: dq is never written); q1nw = Q1 without the completion wait before the count.
R=$OUT/r7; mkdir -p $R
for v in q1cnt q1nw; do mkdir -p kernels/build_old/full_$v; cp kernels/build_old/q1/* kernels/build_old/full_$v/; cp kernels/build_old/$v/*.fatbin kernels/build_old/full_$v/; done
cd kernels/build_old/q1test
for v in q1cnt q1nw; do
  echo "== $v" >> $R/ab-bwd.txt
  timeout 80 python3 ab.py ../../build ../full_$v --pass bwd --dims 256 --lengths 512,2048,16384 --rounds 3 >> $R/ab-bwd.txt 2>&1
done
grep -E "==|bwd d|mean" $R/ab-bwd.txt | cut -c1-90
