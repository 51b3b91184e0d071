#!/bin/bash
# Session 32, run 1, from the repository root (kernels/build = this commit's, with bwd_pre_side; pass the commit as
# $1): check.py --quick (every head dim and dtype: bwd_pre_side beside the Hopper bwd at d = 128 / 256, bwd_pre before
# it elsewhere), the README's grid (`flash-attn bench`, with the peers), the same grid without the side path
# (kernels/build_noside: the same fatbins, the bwd_pre_side entries left out of the manifest, so that bwd_pre runs
# before the Hopper bwd as before; --no-peers), then the GPU suites through the package.
R=$OUT/r1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
mkdir -p kernels/build_noside && cp kernels/build/*.fatbin kernels/build_noside/
python3 -c "
import json; m = json.load(open('kernels/build/manifest.json'))
m['kernels'] = [k for k in m['kernels'] if k['phase'] != 'bwd_pre_side']
json.dump(m, open('kernels/build_noside/manifest.json', 'w'))"
cd kernels/test
FLASH_PDL_DQ=1 timeout 110 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check.txt | tail -6
cd ../..
FLASH_ATTN_COMMIT=$1 timeout 150 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1; tail -3 $R/bench.txt
FLASH_ATTN_COMMIT=$1 FLASH_ATTN_KERNEL_DIR=kernels/build_noside/ timeout 100 node dist/src/cli/main.js bench --device cuda:0 --no-peers --save $R/bench-noside.json > $R/bench-noside.txt 2>&1; tail -3 $R/bench-noside.txt
timeout 170 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
