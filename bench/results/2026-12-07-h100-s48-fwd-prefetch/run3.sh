#!/bin/bash
# Session 48, run 3 (never ran: no machine started), from the repository root, on end-align-d256.patch applied to
# main: run4.sh's checks and ab.py, then the default grid (`bench`, peers beside; FLASH_ATTN_COMMIT from the command
# line: the kernels' commit). Carry as for run4.sh. Writes $OUT/r4 and $OUT/r3.
bash "$(dirname "$0")/run4.sh"
source .gpu-host/setup.sh
R=$OUT/r3; mkdir -p $R
export FLASH_ATTN_COMMIT="${FLASH_ATTN_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader > $R/card.txt
timeout 200 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1
echo "grid rc $?"; tail -44 $R/bench.txt | grep -v "^\\["
