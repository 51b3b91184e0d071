#!/bin/bash
# Run on the build machine from a checkout at edcceb1 or later (the patch applies to it): builds Q5's base and four
# variants at d = 256 (partial builds, overlaid on a full build by run.sh) and the harness beside them.
set -e
git apply bench/results/2026-12-03-h200-s24-q1-dq-last/q5/q5-variants.patch
node scripts/build-kernels.mjs --out=kernels/build_old/q5full
for v in 0 1 2 4 5; do
  sed -i "s/^#define Q5_VARIANT .*/#define Q5_VARIANT $v/" kernels/sm90/bwd_items.cuh
  node scripts/build-kernels.mjs --only=bf16:256 --out=kernels/build_old/q5_$v
done
sed -i "s/^#define Q5_VARIANT .*/#define Q5_VARIANT 0/" kernels/sm90/bwd_items.cuh
rm -f kernels/build_old/*/describe*
mkdir -p kernels/build_old/q5test && cp kernels/test/*.py bench/peers.py kernels/build_old/q5test/
git apply -R bench/results/2026-12-03-h200-s24-q1-dq-last/q5/q5-variants.patch  # back to the commit; the builds stay (ignored)
