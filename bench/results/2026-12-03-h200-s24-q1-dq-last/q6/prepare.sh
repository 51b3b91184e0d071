#!/bin/bash
# Run on the build machine from the repository root at fdeb776 or later: builds Q6 (kernels/build_old/q6) and its
# harness (kernels/build_old/q6test), then takes the patch back out. The build script refuses the build (ptxas spills
# 84 bytes in flash_bwd90_*_d256: see README) after writing every fatbin and the manifest, hence the `|| true`.
set -e
git apply bench/results/2026-12-03-h200-s24-q1-dq-last/q6/q6.patch
node scripts/build-kernels.mjs --out=kernels/build_old/q6 || true
test -f kernels/build_old/q6/manifest.json && grep -q countsDqItems kernels/build_old/q6/manifest.json
rm -f kernels/build_old/q6/describe*
mkdir -p kernels/build_old/q6test && cp kernels/test/*.py bench/peers.py kernels/build_old/q6test/
git apply -R bench/results/2026-12-03-h200-s24-q1-dq-last/q6/q6.patch
