#!/bin/bash
# Session 38, run 6, from the repository root: the landed commit's own build (kernels/build and dist from a clean
# clone's `bash .ci/run`): the GPU suites, check.py --quick, and the causal 512 / 1024 rows (ours only).
R=$OUT/r6; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1; echo "suites rc $?"
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -20
timeout 30 node dist/src/cli/main.js bench --device cuda:0 --d 128,256 --l 512,1024 --causal yes --no-peers > $R/bench-causal.txt 2>&1; tail -4 $R/bench-causal.txt
(cd kernels/test && FLASH_PDL_DQ=1 timeout 90 python3 check.py --quick > $R/check-quick.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -3)
