#!/bin/bash
# Session 40, run 7, from the repository root, kernels/build = a clean clone's build of 46e7351 (the kernels of every
# later commit this session). The l = 512 rows of the standard grid with peers, three times in a row, to see how far
# the ratios near the goals (1.5x FlashAttention-2) move from run to run on one machine.
R=$OUT/r7; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for i in 1 2 3; do
  timeout 120 node dist/src/cli/main.js bench --device cuda:0 --l 512 --save $R/bench512-$i.json > $R/bench512-$i.txt 2>&1; echo "bench $i rc $?"
  grep -E "^\| +[0-9]" $R/bench512-$i.txt
done
