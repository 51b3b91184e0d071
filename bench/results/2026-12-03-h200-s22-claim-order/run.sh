#!/bin/bash
# Session 22, run 1: GPU suites on H1 v2, host cost v1 vs v2, causal backward claim-order variants.
R=$OUT/r1; mkdir -p $R
nvidia-smi > $R/smi.txt 2>&1
K=$PWD/kernels/build
( time node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring ) > $R/suites.txt 2>&1
tail -12 $R/suites.txt
for i in 1 2 3; do
  echo "== round $i v1" >> $R/host-cost.txt; FLASH_ATTN_KERNEL_DIR=$K node bench/host-cost.mjs kernels/build_old/dist_h1v1 3000 >> $R/host-cost.txt 2>&1
  echo "== round $i v2" >> $R/host-cost.txt; FLASH_ATTN_KERNEL_DIR=$K node bench/host-cost.mjs dist 3000 >> $R/host-cost.txt 2>&1
done
cat $R/host-cost.txt
cd kernels/test
for v in headmajor chunk8 chunk16; do
  timeout 140 python3 ab.py ../build_old/base ../build_old/$v --pass bwd --causal yes --lengths 1024,2048,4096,8192 --rounds 4 > $R/ab-$v.txt 2>&1
  tail -22 $R/ab-$v.txt
done
