#!/bin/bash
# TAILW (session 44): the backward's key-block-major tail (kernels/common/bwd_order.cuh TAIL_WAVES, 2 since B37)
# over 1, 3, 4 and "every head" (1000) waves, against kernels/build (TAIL_WAVES 2). Each variant was built here with
# tail-waves.patch applied: node scripts/build-kernels.mjs --only=bf16:64,bf16:128,bf16:256
# --out=kernels/build-probe/twW --define=FLASH_PROBE_TAIL_WAVES=W (describe binaries removed to fit the carry).
# Causal only (the order is head-major without a right window); l = 512, 1024 (d = 256 at 1024 has 13 key blocks,
# over TAILED_UPTO: no tail in either build, a control). Writes to $OUT.
set -u
out=${OUT:-/tmp/out}
cd kernels/test
for w in 1 3 4 1000; do
  timeout 150 python3 ab.py ../build ../build-probe/tw$w --pass bwd --dims 64,128,256 --lengths 512,1024 --causal yes \
    --rounds 4 > "$out/ab-tw$w.txt" 2>&1 || echo "ab tw$w: exit $?" >> "$out/ab-tw$w.txt"
done
