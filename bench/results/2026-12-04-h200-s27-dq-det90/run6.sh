#!/bin/bash
# Session 27, run 6, from the repository root (kernels/build = c37d5dc's): per-kernel device times of the default and
# the deterministic backward (phases.py --det), d = 64 / 128 / 256, l = 512 / 2048.
R=$OUT/s27r6; mkdir -p $R
cd kernels/test
timeout 200 python3 phases.py --det --dims 64,128,256 --lengths 512,2048 > $R/phases-det.txt 2>&1; grep -c "us/iter" $R/phases-det.txt
