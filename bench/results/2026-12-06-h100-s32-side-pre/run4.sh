#!/bin/bash
# Session 32, run 4, from the repository root (pass the commit as $1): the README's grid with SIDE_PRE_MAX_KEYS
# (bwd_pre_side only where lk <= 2048), with the peers, then the GPU test file that failed in run 1 (its expectation
# named the first backward phase bwd_pre; fixed), then the whole GPU suites if time allows.
R=$OUT/r4; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
FLASH_ATTN_COMMIT=$1 timeout 150 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -3 $R/bench.txt
timeout 170 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
