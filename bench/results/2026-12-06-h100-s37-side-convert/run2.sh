#!/bin/bash
# Session 37, run 2, from the repository root: the persistent backward's per-item timeline (item-trace.patch on
# 3594c7b, bf16 d = 128 / 256 in kernels/build/trace; trace_items.py).
R=$OUT/r2; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_PDL_DQ=1 timeout 120 python3 ../../bench/results/2026-12-06-h100-s37-side-convert/trace_items.py ../build/trace > $R/trace.txt 2>&1; tail -40 $R/trace.txt
# The same causal 512 rows after a plain bwd_pre (no bwd_pre_side beside the main kernel).
FLASH_SIDE_PRE=0 FLASH_PDL_DQ=1 timeout 60 python3 ../../bench/results/2026-12-06-h100-s37-side-convert/trace_items.py ../build/trace 128:512:0,256:512:0 > $R/trace-noside.txt 2>&1; tail -20 $R/trace-noside.txt
