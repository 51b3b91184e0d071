#!/bin/bash
# Session 43, the grid of the tree as carried (in session 43: ac35990, its bf16 kernels), from the repository root
# after `source .gpu-host/setup.sh`: the standard grid timed with --sustain-ms 500 (each pass after 0.5 s of its own
# calls back to back: session 41's SUSTAIN), then the default grid (the README's timing). Writes $OUT/g.
R=$OUT/g; mkdir -p $R
export FLASH_ATTN_COMMIT="${FLASH_ATTN_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader | tee $R/card.txt
timeout 330 node dist/src/cli/main.js bench --device cuda:0 --sustain-ms 500 --save $R/bench-sustain.json > $R/bench-sustain.txt 2>&1
echo "sustain rc $?"; tail -44 $R/bench-sustain.txt | grep -v "^\["
timeout 200 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1
echo "default rc $?"; tail -44 $R/bench.txt | grep -v "^\["
