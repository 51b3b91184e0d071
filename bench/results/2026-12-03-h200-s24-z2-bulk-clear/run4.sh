#!/bin/bash
# Session 24, run 4. Z3's cost split (timing only; dq may be wrong in both variants): z5nc = Z3 without the row
# lanes' wait for the batch's zeros; z5off = no clearing and no wait at all (the bound), against HEAD's kernels.
R=$OUT/r4; mkdir -p $R
for v in z5nc z5off; do mkdir -p kernels/build_old/full_$v; cp kernels/build_old/z5/* kernels/build_old/full_$v/; cp kernels/build_old/$v/*.fatbin kernels/build_old/full_$v/; done
cd kernels/build_old/z5test
for v in z5nc z5off; do
  echo "== $v" >> $R/ab-bwd.txt
  timeout 100 python3 ab.py ../../build ../full_$v --pass bwd --dims 64,128,256 --lengths 512,2048 --rounds 3 >> $R/ab-bwd.txt 2>&1
done
grep -E "==|bwd d|mean" $R/ab-bwd.txt | cut -c1-90
