#!/bin/bash
# Session 38, run 5 (on run4's warm machine, /tmp/pk24 = run4's /tmp/pkg with pacedBlocks 24 in its manifest): the
# standard grid with peers, then the GPU suites, on the package form as landed: dist-pkg's backward.js limited to
# PACE_MAX_KEYS { rightWindow: 512, none: 0 } (what src/backend/cuda/backward.ts now says: paced only under a right
# window and lk <= 512).
source .gpu-host/setup.sh
rm -rf dist-pkg; cp -r dist dist-pkg; cp kernels/build/pkg/js/*.js dist-pkg/src/backend/cuda/
sed -i 's/PACE_MAX_KEYS = { rightWindow: 2048, none: 2048 }/PACE_MAX_KEYS = { rightWindow: 512, none: 0 }/' dist-pkg/src/backend/cuda/backward.js
mkdir -p $OUT/r5
FLASH_ATTN_COMMIT=pace-pkg-76277b7+limits FLASH_ATTN_KERNEL_DIR=/tmp/pk24 timeout 480 node dist-pkg/src/cli/main.js bench --device cuda:0 --save $OUT/r5/bench.json > $OUT/r5/bench.txt 2>&1
FLASH_ATTN_KERNEL_DIR=/tmp/pk24 timeout 200 node --test --test-reporter=spec dist-pkg/tests/backend dist-pkg/tests/cuda dist-pkg/tests/ring > $OUT/r5/gpu-suites-pk24.txt 2>&1
