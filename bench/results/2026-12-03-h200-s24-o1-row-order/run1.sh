#!/bin/bash
# Session 24, run 1. (1) O1: the row passes (bwd_pre, bwd_dq) walk their blocks last batch first (kernels/build_old/rev)
# against HEAD's kernels (kernels/build), whole backward, and check.py on O1. (2) Z1's trace (z1-trace.patch built
# into kernels/build_old/trace at d = 64 / 128; the patched harness in kernels/build_old/ztest): unit times of the
# in-kernel clearing (bench/NOTES.md Z1's model).
R=$OUT/r1; mkdir -p $R
ROOT=$PWD
cd kernels/test
timeout 150 python3 ab.py ../build ../build_old/rev --pass bwd --dims 64,128,256 --lengths 512,2048,8192 --rounds 3 > $R/ab-bwd.txt 2>&1; grep -E "bwd d|mean" $R/ab-bwd.txt | cut -c1-90
FLASH_BUILD=../build_old/rev timeout 120 python3 check.py --quick > $R/check-rev.txt 2>&1; tail -1 $R/check-rev.txt
cd $ROOT/kernels/build_old/ztest
for a in "128 512 0" "128 512 1" "128 2048 0" "64 512 0" "64 512 1"; do
  echo "== $a" >> $R/trace.txt
  FLASH_BUILD=$ROOT/kernels/build_old/trace timeout 40 python3 z1_trace.py $a >> $R/trace.txt 2>&1
done
cat $R/trace.txt | cut -c1-200
