#!/bin/bash
# Session 49, run 3 (for BEST-ALIGN once run1's ab.py shows it worth checking), from the repository root, on
# end-align-best.patch applied to main; carry kernels/build-probe/s49 (needs no .gpu-host).
# check.py --quick --bf16 on kernels/build-probe/s49/ba (bf16 only: its d = 64 / 128 / 256 kernels, other head dims
# padded to them), then compute-sanitizer memcheck on sanitize.py's shapes at d = 128 and 256 on the same build.
R=$OUT/r3; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_BUILD=../build-probe/s49/ba timeout 200 python3 check.py --quick --bf16 > $R/check-ba.txt 2>&1
echo "check ba rc $?"; tail -2 $R/check-ba.txt
FLASH_BUILD=../build-probe/s49/ba timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 sanitize.py \
  128 256 > $R/san-memcheck-ba.txt 2>&1
echo "memcheck ba rc $?"; tail -2 $R/san-memcheck-ba.txt
