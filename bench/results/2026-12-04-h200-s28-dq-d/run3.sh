#!/bin/bash
# Session 28, run 3, from the repository root: where the d = 256 dq pass's time goes since it computes D
# (kernels/build_old/b = 28d3fba's; build = run 2's DQ3; build_old/v1 = DQ3 whose consumers do not wait for D and
# v2 = DQ3 whose producer loads no o, both timing only (dq wrong); v3 = DQ3 with the wait for D moved to the first
# block's dS). Deterministic backward, d = 256 only.
R=$OUT/s28r3; mkdir -p $R
cd kernels/test
for v in v1 v2 v3; do
  timeout 100 python3 ab.py ../build ../build_old/$v --pass bwd --dims 256 --lengths 512,2048 --deterministic --rounds 2 > $R/ab-$v.txt 2>&1; tail -1 $R/ab-$v.txt
done
timeout 100 python3 ab.py ../build_old/b ../build_old/v3 --pass bwd --dims 256 --lengths 512,2048 --deterministic --rounds 2 > $R/ab-b-v3.txt 2>&1; tail -1 $R/ab-b-v3.txt
