#!/bin/bash
# Session 29, run 1, from the repository root (dist = this session's host code: a deterministic Hopper backward
# allocates no dq_accum where no kernel touches it; kernels/build = the kernels as built here, unchanged since
# 2e105f4 but for comments): the GPU suites on both paths, the 50-run determinism test among them.
R=$OUT/s29r1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $R/gpu.txt
timeout 300 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
