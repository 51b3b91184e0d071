#!/bin/bash
# Session 23, run 2: Z1's second version (the clearing held at most 8 MB of groups ahead of the producers' claims,
# 64 KB units, release adds instead of __threadfence). As run 1.
R=$OUT/r2; mkdir -p $R
cd kernels/test
timeout 100 python3 check.py --quick > $R/check.txt 2>&1; tail -2 $R/check.txt
timeout 150 compute-sanitizer --tool memcheck python3 sanitize.py 64 128 256 > $R/memcheck.txt 2>&1; tail -2 $R/memcheck.txt
timeout 260 python3 ab.py ../build_old/base ../build --pass bwd --rounds 4 > $R/ab-bwd.txt 2>&1; tail -40 $R/ab-bwd.txt
