#!/bin/bash
# Session 33, run 5, from the repository root (pass the commit as $1; kernels/build = that commit's kernels):
# first run 4's question (kernels/build/l2o: o loaded under an L2 evict-first policy, l2o.patch; kernels/build/l2os: and
# the dq_accum zeros stored evict-first too; bf16 d = 128 / 256 only), then the README's grid on the kept code with the
# peers, then the GPU suites through the package.
R=$OUT/r5; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
for v in l2o l2os; do
  FLASH_PDL_DQ=1 timeout 100 python3 ab.py ../build ../build/$v --pass bwd --dims 128,256 --lengths 2048,8192,16384 --rounds 6 > $R/ab-$v.txt 2>&1; tail -1 $R/ab-$v.txt
done
cd ../..
FLASH_ATTN_COMMIT=$1 timeout 170 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -5 $R/bench.txt
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
