#!/bin/bash
# Q5 on the GPU (carry .gpu-host, kernels/build = the commit's kernels, kernels/build_old): where Q2's counting cost
# goes. Each variant against HEAD's kernels with and without the programmatic bwd_dq launch, d = 256, l = 512 / 2048.
R=$OUT/q5; mkdir -p $R
for v in 0 1 2 4 5; do mkdir -p kernels/build_old/full_$v; cp kernels/build_old/q5full/* kernels/build_old/full_$v/; cp kernels/build_old/q5_$v/*.fatbin kernels/build_old/full_$v/; done
cd kernels/build_old/q5test
for v in 0 1 2 4 5; do
  echo "== variant $v, bwd_dq after the grid" >> $R/ab.txt
  timeout 50 python3 ab.py ../../build ../full_$v --pass bwd --dims 256 --lengths 512,2048 --rounds 3 >> $R/ab.txt 2>&1
  echo "== variant $v, bwd_dq launched early" >> $R/ab.txt
  FLASH_PDL_DQ=1 timeout 50 python3 ab.py ../../build ../full_$v --pass bwd --dims 256 --lengths 512,2048 --rounds 3 >> $R/ab.txt 2>&1
done
grep -E "==|bwd d|mean" $R/ab.txt | cut -c1-90
FLASH_PDL_DQ=1 FLASH_BUILD=../full_4 timeout 150 python3 check.py --quick > $R/check-4.txt 2>&1; tail -1 $R/check-4.txt
FLASH_PDL_DQ=1 FLASH_BUILD=../full_1 timeout 150 python3 check.py --quick > $R/check-1.txt 2>&1; tail -1 $R/check-1.txt
