#!/bin/bash
# Session 36, run 1, from the repository root. kernels/build = e462065 with pre-rows.patch (session 35: bwd_pre's and
# bwd_pre_side's row loops in one helper); kernels/build/base = e462065's bf16 d = 64 / 128 / 256; kernels/build/foldN =
# the same with fold.patch at FLASH_PROBE_FOLD = N (dq_accum folded onto 8 MB of heads: 1 the zeroing, 2 the main
# kernel's reductions, 4 bwd_dq's reads; dq wrong, timed only).
# 1. ab.py base against fold7, fold1, fold3. 2. ab.py base against itself with B's Hopper backward on 8 / 16 fewer
# multiprocessors (FLASH_AB_B_SPARE_SMS: room for bwd_dq beside it). 3. check.py --quick and the GPU suites on the
# pre-rows build.
R=$OUT/r1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
for v in fold7 fold1 fold3; do
  FLASH_PDL_DQ=1 timeout 90 python3 ab.py ../build/base ../build/$v --pass bwd --dims 64,128,256 --causal both --lengths 512,2048,8192 --rounds 4 > $R/ab-$v.txt 2>&1; tail -1 $R/ab-$v.txt
done
for k in 8 16; do
  FLASH_AB_B_SPARE_SMS=$k FLASH_PDL_DQ=1 timeout 45 python3 ab.py ../build/base ../build/base --pass bwd --dims 128,256 --causal both --lengths 512,2048 --rounds 4 > $R/ab-spare$k.txt 2>&1; tail -1 $R/ab-spare$k.txt
done
FLASH_PDL_DQ=1 timeout 60 python3 check.py --quick > $R/check-quick.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -2
cd ../..
timeout 130 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -20
