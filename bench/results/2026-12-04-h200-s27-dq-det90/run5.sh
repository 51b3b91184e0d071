#!/bin/bash
# Session 27, run 5, from the repository root (kernels/build = this commit's; pass the commit as $1): check.py --quick
# --big (the > 2^31-element problems now in deterministic mode too: bwd_dq_det90 at d = 128 / 256), then a grid.
R=$OUT/s27r5; mkdir -p $R
cd kernels/test
FLASH_PDL_DQ=1 timeout 200 python3 -u check.py --quick --big > $R/check.txt 2>&1; grep FAIL $R/check.txt | head -3; grep -E "^big|^check" $R/check.txt
cd ../..
FLASH_ATTN_COMMIT=$1 timeout 200 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -5 $R/bench.txt
