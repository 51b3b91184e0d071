#!/bin/bash
# Session 49, run 2, from the repository root: the default grid (`bench`, peers beside) on the tree's kernels/build
# (carry as for run1.sh; FLASH_ATTN_COMMIT from the command line: the kernels' commit). Writes $OUT/r2.
source .gpu-host/setup.sh
R=$OUT/r2; mkdir -p $R
export FLASH_ATTN_COMMIT="${FLASH_ATTN_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader > $R/card.txt
timeout 300 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1
echo "grid rc $?"; tail -44 $R/bench.txt | grep -v "^\\["
