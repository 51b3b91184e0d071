#!/bin/bash
# Session 33, run 3, from the repository root: kernels/build = this tree's kernels (bwd_pre_side with 8 rows a warp in
# flight at d <= 128: 256-row chunks), kernels/build/old = HEAD 0bc0f0c's bf16 d = 128 / 256 kernels (4 rows a warp).
# check.py --quick on the new build; ab.py old against new at d = 128 (the change's effect), then without the side path
# (build_noside: old's fatbins, the side entries left out of its manifest) against new at d = 128 and 256 (where
# SIDE_PRE_MAX_KEYS should lie).
R=$OUT/r3; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
mkdir -p kernels/build_noside && cp kernels/build/old/*.fatbin kernels/build_noside/
python3 -c "
import json; m = json.load(open('kernels/build/old/manifest.json'))
m['kernels'] = [k for k in m['kernels'] if k['phase'] != 'bwd_pre_side']
json.dump(m, open('kernels/build_noside/manifest.json', 'w'))"
cd kernels/test
FLASH_PDL_DQ=1 timeout 100 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check.txt | tail -3
FLASH_PDL_DQ=1 timeout 200 python3 ab.py ../build/old ../build --pass bwd --dims 128 --rounds 6 > $R/ab-rows8.txt 2>&1; tail -1 $R/ab-rows8.txt
FLASH_PDL_DQ=1 timeout 250 python3 ab.py ../build_noside ../build --pass bwd --dims 128,256 --lengths 512,2048,4096,8192,16384 --rounds 6 > $R/ab-side.txt 2>&1; tail -1 $R/ab-side.txt
