#!/bin/bash
# ZO-BOUND (session 44): bwd_pre_side zeroing dq_accum without computing D (side-zero-only.patch; D = 0, dq / dk wrong
# by design), paced on 24 / 16 / 12 / 8 blocks (the main kernel on the rest), against kernels/build (D and zeros on
# 24). Built here: node scripts/build-kernels.mjs --only=bf16:64,bf16:128,bf16:256 --out=kernels/build-probe/zo
# --define=FLASH_PROBE_SIDE_ZERO_ONLY (describe binaries removed). Then non-causal 512 (unpaced side) once.
set -u
out=${OUT:-/tmp/out}
cd kernels/test
for k in 24 16 12 8; do
  FLASH_AB_B_PACED_BLOCKS=$k timeout 100 python3 ab.py ../build ../build-probe/zo --pass bwd --dims 64,128,256 \
    --lengths 512 --causal yes --rounds 4 > "$out/ab-zo-paced$k.txt" 2>&1 || echo "exit $?" >> "$out/ab-zo-paced$k.txt"
  tail -1 "$out/ab-zo-paced$k.txt"
done
timeout 100 python3 ab.py ../build ../build-probe/zo --pass bwd --dims 64,128,256 --lengths 512 --causal no --rounds 4 \
  > "$out/ab-zo-noncausal.txt" 2>&1 || echo "exit $?" >> "$out/ab-zo-noncausal.txt"
tail -1 "$out/ab-zo-noncausal.txt"
