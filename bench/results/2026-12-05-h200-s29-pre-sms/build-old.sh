#!/bin/bash
# Builds what run4.sh needs, on the build machine (nvcc, no GPU), from the repository root: kernels/build_old/a from
# this tree's kernels (byte-identical to bc4e54a's: bench/NOTES.md, session 31), d and e with p2-d.patch / p2-e.patch
# applied in a scratch worktree of HEAD; bf16 d = 128 / 256 only; and beside them flashk-d.py / flashk-e.py, the
# harness with each patch's kernels/test/flashk.py hunk (the GPU host's copy of the tree has no git to apply them).
# Then send run4.sh with carry ["kernels/build_old"].
set -euo pipefail
ROOT=$PWD
H=bench/results/2026-12-05-h200-s29-pre-sms
node scripts/build-kernels.mjs --only=bf16:128,bf16:256 --out="$ROOT/kernels/build_old/a"
for x in d e; do
  W=$(mktemp -d)
  git worktree add --detach "$W" HEAD > /dev/null
  git -C "$W" apply "$ROOT/$H/p2-$x.patch"
  ln -s "$ROOT/node_modules" "$W/node_modules"
  (cd "$W" && node scripts/build-kernels.mjs --only=bf16:128,bf16:256 --out="$ROOT/kernels/build_old/$x")
  cp "$W/kernels/test/flashk.py" "$ROOT/kernels/build_old/flashk-$x.py"
  git worktree remove --force "$W"
done
