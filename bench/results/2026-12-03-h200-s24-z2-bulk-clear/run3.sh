#!/bin/bash
# Session 24, run 3. Z3: Z1's fourth version with the zeros written by the copy engine (contiguous 64 KB units counted per batch, bulk copies of up to 16 KB
# from 512 bytes of zeroed shared memory, issued by the clearing warp's lane 0; kernels/build_old/z5, harness in
# kernels/build_old/z5test) against HEAD's kernels (kernels/build); check, memcheck; Z2's trace (kernels/build_old/trace,
# harness kernels/build_old/ztest).
R=$OUT/r3; mkdir -p $R
ROOT=$PWD
cd kernels/build_old/z5test
timeout 150 python3 ab.py ../../build ../z5 --pass bwd --dims 64,128,256 --lengths 512,2048,8192 --rounds 3 > $R/ab-bwd.txt 2>&1; grep -E "bwd d|mean" $R/ab-bwd.txt | cut -c1-90
for a in "128 512 0" "64 512 0" "128 2048 0"; do
  echo "== $a" >> $R/trace.txt
  (cd $ROOT/kernels/build_old/ztest && FLASH_BUILD=$ROOT/kernels/build_old/trace timeout 40 python3 z1_trace.py $a >> $R/trace.txt 2>&1)
done
cut -c1-200 $R/trace.txt
FLASH_BUILD=../z5 timeout 120 python3 check.py --quick > $R/check.txt 2>&1; tail -1 $R/check.txt
FLASH_BUILD=../z5 timeout 90 compute-sanitizer --tool memcheck python3 sanitize.py 64 128 256 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_BUILD=../z5 timeout 60 compute-sanitizer --tool racecheck python3 sanitize.py 64 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
