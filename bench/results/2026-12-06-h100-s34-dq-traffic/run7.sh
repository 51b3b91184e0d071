#!/bin/bash
# Session 34, run 7, from the repository root: kernels/build = 8958453's kernels (KEY_CHUNK 16, head-major from
# CHUNKED_BELOW = 128 key blocks a head); kernels/build/chunkall = the same bf16 d = 64 / 128 / 256 with CHUNKED_BELOW
# 1 << 30 (chunk-all.patch: chunks of 16 at every length). 1. ab.py at the causal lengths with 128 or more key blocks a
# head (16384 at d = 64 / 128, 16384 at d = 256's 80-key blocks) and 8192 (chunked either way: a control).
# 2. racecheck at d = 256 on 8958453's kernels.
R=$OUT/r7; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_PDL_DQ=1 timeout 70 python3 ab.py ../build ../build/chunkall --pass bwd --dims 64,128,256 --causal yes --lengths 8192,16384 --rounds 6 > $R/ab-chunkall.txt 2>&1; tail -1 $R/ab-chunkall.txt
FLASH_PDL_DQ=1 timeout 70 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck-256.txt 2>&1; tail -1 $R/racecheck-256.txt
