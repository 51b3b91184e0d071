#!/bin/bash
# Session 33, run 4, from the repository root: kernels/build = run 3's (bwd_pre_side, 8 rows a warp at d = 128);
# kernels/build/l2o = the same with o loaded under an L2 evict-first policy (l2o.patch), kernels/build/l2os = that and
# the dq_accum zeros stored evict-first too (bf16 d = 128 / 256 only): does the side grid's stream through L2 cost the
# main kernel its long-row reuse? Then the GPU suites through the package on kernels/build.
R=$OUT/r4; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
for v in l2o l2os; do
  FLASH_PDL_DQ=1 timeout 150 python3 ab.py ../build ../build/$v --pass bwd --dims 128,256 --lengths 2048,8192,16384 --rounds 6 > $R/ab-$v.txt 2>&1; tail -1 $R/ab-$v.txt
done
cd ../..
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
