#!/bin/bash
# Session 41, run 4, from the repository root after `source .gpu-host/setup.sh`: the standard grid timed with
# --sustain-ms 500 (each pass, ours and the peers', after 0.5 s of its own calls back to back), the same grid as the
# README's (--warmup's default), then the d = 128 non-causal rows with --sustain-ms 500 again (their run-to-run spread).
R=$OUT/r4; mkdir -p $R
export FLASH_ATTN_COMMIT="${FLASH_ATTN_COMMIT:-unknown}"
node dist/src/cli/main.js bench --device cuda:0 --sustain-ms 500 --save $R/bench-sustain.json > $R/bench-sustain.txt 2>&1
echo "sustain rc $?"; tail -44 $R/bench-sustain.txt | grep -v "^\["
node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1
echo "default rc $?"; tail -44 $R/bench.txt | grep -v "^\["
node dist/src/cli/main.js bench --device cuda:0 --d 128 --causal no --sustain-ms 500 > $R/bench-sustain-d128.txt 2>&1
echo "sustain d128 rc $?"; tail -12 $R/bench-sustain-d128.txt | grep -v "^\["
