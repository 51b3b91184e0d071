#!/bin/bash
# Session 40, run 4, from the repository root, run right after run6.sh in the same call, so on its kernels/build (the
# DQ-L2 probe's build: bwd_dq differs from 46e7351's, the main and side kernels do not). 1. What
# the package launches for a d = 64 causal 512 backward (FLASH_ATTN_LOG=1: bwd_pre_side, paced, beside bwd90). 2. The
# backward kernel by kernel beside the peers' (kernels/test/phases.py, PyTorch profiler device times; bwd_dq launched
# to overlap as the package does), l = 512 and 2048, d = 64 / 128 / 256, causal and not: P3 of session 36 again,
# after pacing and SIDE64.
R=$OUT/r4; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
FLASH_ATTN_LOG=1 timeout 60 node dist/src/cli/main.js bench --device cuda:0 --d 64 --l 512 --causal yes --no-peers --warmup 1 --repeats 1 > $R/log-d64-causal512.txt 2>&1
grep -E "flash_" $R/log-d64-causal512.txt | sort | uniq -c | head -8
cd kernels/test
FLASH_PDL_DQ=1 timeout 240 python3 phases.py --lengths 512,2048 > $R/phases.txt 2>&1; echo "phases rc $?"
grep -A4 "^ours\|^flash\|^cudnn" $R/phases.txt | grep -v "^--" | head -120
