#!/bin/bash
# Session 28, run 9, from the repository root: the d = 256 dq pass's timeline with DQ5's producer D
# (kernels/build_old/t1, built with dq6-trace.patch; see trace_dq.py).
R=$OUT/s28r9; mkdir -p $R
timeout 120 python3 bench/results/2026-12-04-h200-s28-dq-d/trace_dq.py kernels/build_old/t1 > $R/trace.txt 2>&1; cat $R/trace.txt | tail -45
