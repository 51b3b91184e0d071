#!/bin/bash
# Session 39, run 2, right after run 1 on the same machine, from the repository root. 1. The standard grid with peers
# on this tree's build (kernels/build; bench.json's commit field from FLASH_ATTN_COMMIT). 2. ab.py: d = 64's side with
# 256-row chunks (kernels/build/j4: loads_per_lane 4 at d = 64) against 512 (kernels/build). 3. Session 38's run7
# rows: pacing off in B at l = 512, pw2 (two waves ahead) against the landed form, pacing at l = 1024 on 20 blocks.
R=$OUT/r2; mkdir -p $R
export PYTHONUNBUFFERED=1
timeout 300 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; echo "bench rc $?"; tail -42 $R/bench.txt
cd kernels/test
export FLASH_PDL_DQ=1
timeout 60 python3 ab.py ../build ../build/j4 --pass bwd --dims 64 --causal both --lengths 512,1024,2048 --rounds 4 > $R/ab-j4.txt 2>&1; tail -7 $R/ab-j4.txt
FLASH_AB_B_PACE=0 timeout 40 python3 ab.py ../build ../build --pass bwd --dims 64,128,256 --causal yes --lengths 512 --rounds 4 > $R/ab-unpaced.txt 2>&1; tail -4 $R/ab-unpaced.txt
timeout 40 python3 ab.py ../build ../build/pw2 --pass bwd --dims 128,256 --causal yes --lengths 512 --rounds 4 > $R/ab-pw2.txt 2>&1; tail -3 $R/ab-pw2.txt
FLASH_AB_B_PACE_MAX_KEYS=1024 FLASH_AB_B_PACED_BLOCKS=20 timeout 40 python3 ab.py ../build ../build --pass bwd --dims 64,128,256 --causal yes --lengths 1024 --rounds 4 > $R/ab-pace1024.txt 2>&1; tail -4 $R/ab-pace1024.txt
