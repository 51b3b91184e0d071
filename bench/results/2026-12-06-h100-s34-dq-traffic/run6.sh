#!/bin/bash
# Session 34, run 6, from the repository root (pass the commit as $1; kernels/build = that commit's kernels, KEY_CHUNK 16).
# kernels/build/base = 115d3af's bf16 d = 64 / 128 / 256 kernels (KEY_CHUNK 4), kernels/build/chunk8 = d33466b's
# (KEY_CHUNK 8). 1. ab.py chunk8 against the commit's, and base against it, causal. 2. check.py --quick. 3. The
# README's grid with the peers. 4. The GPU suites.
R=$OUT/r6; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
for v in chunk8 base; do
  FLASH_PDL_DQ=1 timeout 80 python3 ab.py ../build/$v ../build --pass bwd --dims 64,128,256 --causal yes --lengths 512,1024,2048,4096,8192,16384 --rounds 6 > $R/ab-$v-16.txt 2>&1; tail -1 $R/ab-$v-16.txt
done
FLASH_PDL_DQ=1 timeout 60 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check.txt | tail -3
cd ../..
FLASH_ATTN_COMMIT=$1 timeout 190 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -5 $R/bench.txt
timeout 120 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
