#!/bin/bash
# Session 41, run 4, from the repository root after `source .gpu-host/setup.sh`: the standard grid timed with
# --sustain-ms 500 (each pass, ours and the peers', after 0.5 s of its own calls back to back), the same grid as the
# README's (--warmup's default), with the d = 128 non-causal rows under --sustain-ms 500 again (their run-to-run spread)
# run between the two, so that the default grid, the least needed, comes last.
R=$OUT/r4; mkdir -p $R
export FLASH_ATTN_COMMIT="${FLASH_ATTN_COMMIT:-unknown}"
# First bwd_pre_side alone (no main kernel), unpaced on 12 / 16 / 24 / 44 blocks at causal 512: main's threads' side
# (kernels/test, kernels/build) and, where its probe build travelled (.probe/kernels/test and build, as for r1), the
# SIDE-TMA probe's.
SIDE_ALONE=$PWD/bench/results/2026-12-07-h100-s41-power/side_alone.py
cd kernels/test && timeout 90 python3 $SIDE_ALONE threads 2>&1 | tee $R/side-alone.txt; cd ../..
if [ -d .probe/kernels/test ]; then
  cd .probe/kernels/test && timeout 90 python3 $SIDE_ALONE tma 2>&1 | tee -a $R/side-alone.txt; cd ../../..
fi
node dist/src/cli/main.js bench --device cuda:0 --sustain-ms 500 --save $R/bench-sustain.json > $R/bench-sustain.txt 2>&1
echo "sustain rc $?"; tail -44 $R/bench-sustain.txt | grep -v "^\["
node dist/src/cli/main.js bench --device cuda:0 --d 128 --causal no --sustain-ms 500 > $R/bench-sustain-d128.txt 2>&1
echo "sustain d128 rc $?"; tail -12 $R/bench-sustain-d128.txt | grep -v "^\["
node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1
echo "default rc $?"; tail -44 $R/bench.txt | grep -v "^\["
