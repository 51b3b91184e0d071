#!/bin/bash
# CHUNK1 (session 44): does the backward gain from running the batch in chunks whose dq_accum fits in L2?
# No build: `flash-attn bench --no-peers` at the standard grid's n and at n / 2, n / 4, n / 8, two rounds,
# alternating, so that 4 x t(n / 4) can be set against t(n) on one warm card. Writes to $OUT.
set -u
out=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv > "$out/card.txt" 2>&1
for round in 1 2; do
  for l in 512 1024 2048; do
    full=$((16384 / l))
    for div in 1 2 4 8; do
      n=$((full / div))
      [ "$n" -ge 1 ] || continue
      node dist/src/cli/main.js bench --device cuda --d 64,128,256 --l "$l" --n "$n" --causal both --no-peers --json \
        2>> "$out/stderr.txt" | tr -d '\n' >> "$out/chunk.jsonl" || echo "failed l=$l n=$n" >> "$out/stderr.txt"
      echo >> "$out/chunk.jsonl"
    done
  done
done
