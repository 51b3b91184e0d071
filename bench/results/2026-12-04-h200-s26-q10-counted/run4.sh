#!/bin/bash
# Session 26, run 4, from the repository root (carry as run3.sh): Q10's backward A / B again (four rounds, d = 64 /
# 128, l <= 2048, where run 3 read -0.9..+4.4%), then a second grid on de69fc8, to see which rows near a goal move.
R=$OUT/s26r4; mkdir -p $R
cd kernels/test
FLASH_PDL_DQ=1 timeout 120 python3 -u ab.py ../build_old/a ../build --pass bwd --dims 64,128 --lengths 512,1024,2048 --rounds 4 > $R/ab-bwd.txt 2>&1; grep -E "bwd d|mean" $R/ab-bwd.txt | cut -c1-60
cd ../..
FLASH_ATTN_COMMIT=de69fc8 timeout 170 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -5 $R/bench.txt
