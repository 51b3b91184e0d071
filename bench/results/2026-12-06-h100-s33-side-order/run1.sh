#!/bin/bash
# Session 33, run 1, from the repository root (kernels/build = this tree's kernels, bwd_pre_side ordered by
# FlashParams.ready_heads; kernels/build/old = HEAD 0bc0f0c's bf16 d = 128 / 256 kernels, whose bwd_pre_side walks the
# heads one after another and ignores ready_heads): check.py --quick (the new windowed cases included), ab.py old
# against new at the long lengths (the order's effect), ab.py without the side path against with it at every length
# (where SIDE_PRE_MAX_KEYS should lie), then the GPU suites through the package (FlashParams grew a field).
R=$OUT/r1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
mkdir -p kernels/build_noside && cp kernels/build/*.fatbin kernels/build_noside/
python3 -c "
import json; m = json.load(open('kernels/build/manifest.json'))
m['kernels'] = [k for k in m['kernels'] if k['phase'] != 'bwd_pre_side']
json.dump(m, open('kernels/build_noside/manifest.json', 'w'))"
cd kernels/test
FLASH_PDL_DQ=1 timeout 120 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check.txt | tail -4
FLASH_PDL_DQ=1 timeout 130 python3 ab.py ../build/old ../build --pass bwd --dims 128,256 --lengths 4096,8192,16384 --rounds 4 > $R/ab-order.txt 2>&1; tail -1 $R/ab-order.txt
FLASH_PDL_DQ=1 timeout 170 python3 ab.py ../build_noside ../build --pass bwd --dims 128,256 --lengths 512,2048,4096,8192,16384 --rounds 4 > $R/ab-side.txt 2>&1; tail -1 $R/ab-side.txt
cd ../..
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
