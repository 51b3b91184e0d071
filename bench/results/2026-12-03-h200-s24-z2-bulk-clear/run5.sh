#!/bin/bash
# Session 24, run 5. Z3 at d = 128 with 512 bytes of zeros (as d = 64 / 256 have) instead of 16 KB: z5s (correct)
# and z5snc (no row-lane wait; timing only), against HEAD's kernels.
R=$OUT/r5; mkdir -p $R
for v in z5s z5snc; do mkdir -p kernels/build_old/full_$v; cp kernels/build_old/z5/* kernels/build_old/full_$v/; cp kernels/build_old/$v/*.fatbin kernels/build_old/full_$v/; done
cd kernels/build_old/z5test
for v in z5s z5snc; do
  echo "== $v" >> $R/ab-bwd.txt
  timeout 100 python3 ab.py ../../build ../full_$v --pass bwd --dims 128 --lengths 512,1024,2048 --rounds 4 >> $R/ab-bwd.txt 2>&1
done
grep -E "==|bwd d|mean" $R/ab-bwd.txt | cut -c1-90
FLASH_BUILD=../full_z5s timeout 100 python3 check.py --quick > $R/check-z5s.txt 2>&1; tail -1 $R/check-z5s.txt
