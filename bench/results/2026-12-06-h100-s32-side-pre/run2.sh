#!/bin/bash
# Session 32, run 2, from the repository root (kernels/build = this commit's; pass the commit as $1): speed.
# kernels/build_noside: the same fatbins with the bwd_pre_side entries left out of the manifest, so that bwd_pre runs
# before the Hopper bwd as before this commit (the Hopper bwd given no ready_rows waits for the grid before it).
# ab.py times the two backwards in alternating rounds; then the README's grid (`flash-attn bench`, with the peers)
# and the same grid's backward without the side path (--no-peers).
R=$OUT/r2; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
mkdir -p kernels/build_noside && cp kernels/build/*.fatbin kernels/build_noside/
python3 -c "
import json; m = json.load(open('kernels/build/manifest.json'))
m['kernels'] = [k for k in m['kernels'] if k['phase'] != 'bwd_pre_side']
json.dump(m, open('kernels/build_noside/manifest.json', 'w'))"
cd kernels/test
FLASH_PDL_DQ=1 timeout 200 python3 ab.py ../build_noside ../build --pass bwd --dims 128,256 --rounds 2 > $R/ab.txt 2>&1; tail -1 $R/ab.txt
cd ../..
FLASH_ATTN_COMMIT=$1 timeout 200 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -3 $R/bench.txt
FLASH_ATTN_COMMIT=$1 FLASH_ATTN_KERNEL_DIR=kernels/build_noside/ timeout 150 node dist/src/cli/main.js bench --device cuda:0 --no-peers --save $R/bench-noside.json > $R/bench-noside.txt 2>&1; tail -3 $R/bench-noside.txt
