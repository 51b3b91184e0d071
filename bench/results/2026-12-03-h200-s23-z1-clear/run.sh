#!/bin/bash
# Session 23, run 1: Z1 (the Hopper backward clears dq_accum itself; bwd_pre computes D only). kernels/build is the
# change, kernels/build_old/base the kernels before it (170bec2). Correctness first, then the A/B of the whole
# backward (bwd_pre + bwd + bwd_dq), then racecheck at d = 64 (its row lanes went from three warps to two).
R=$OUT/r1; mkdir -p $R
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv > $R/gpu.txt
cd kernels/test
timeout 100 python3 check.py --quick > $R/check.txt 2>&1; tail -2 $R/check.txt
timeout 150 compute-sanitizer --tool memcheck python3 sanitize.py 64 128 256 > $R/memcheck.txt 2>&1; tail -2 $R/memcheck.txt
timeout 260 python3 ab.py ../build_old/base ../build --pass bwd --rounds 4 > $R/ab-bwd.txt 2>&1; tail -40 $R/ab-bwd.txt
timeout 60 compute-sanitizer --tool racecheck python3 sanitize.py 64 > $R/racecheck.txt 2>&1; tail -2 $R/racecheck.txt
