#!/bin/bash
# Session 32, run 2, from the repository root, right after run 1 on the same machine: compute-sanitizer on small
# shapes at d = 128 / 256 (bwd_pre_side beside the Hopper bwd) and 64, then ab.py: the backward without the side path
# (kernels/build_noside, as run 1 makes it) against with it, in alternating rounds.
R=$OUT/r2; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
if [ ! -f kernels/build_noside/manifest.json ]; then
  mkdir -p kernels/build_noside && cp kernels/build/*.fatbin kernels/build_noside/
  python3 -c "
import json; m = json.load(open('kernels/build/manifest.json'))
m['kernels'] = [k for k in m['kernels'] if k['phase'] != 'bwd_pre_side']
json.dump(m, open('kernels/build_noside/manifest.json', 'w'))"
fi
cd kernels/test
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool memcheck python3 sanitize.py 128 256 64 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool racecheck python3 sanitize.py 128 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool synccheck python3 sanitize.py 128 256 > $R/synccheck.txt 2>&1; tail -1 $R/synccheck.txt
FLASH_PDL_DQ=1 timeout 200 python3 ab.py ../build_noside ../build --pass bwd --dims 128,256 --rounds 2 > $R/ab.txt 2>&1; tail -1 $R/ab.txt
