#!/bin/bash
# Session 48, run 4 (run 3 without the grid; never ran: the device time was spent), from the repository root, on
# end-align-d256.patch applied to main (the next session can run it as it is).
# kernels/build = the tree with END-ALIGN at d = 256 (497cc49's kernels, every unit of the package),
# kernels/build-probe/base = main's kernels (d3fc448; bf16, d = 64, 128, 256; its d = 64 / 128 sm90 fatbins are
# byte-identical to the tree's). 1. ab.py, forward, d = 256, main against the tree, 6 rounds; 2. check.py --quick on
# the tree's build; 3. the GPU suites on the Hopper path; 4. compute-sanitizer memcheck, sanitize.py's shapes, d = 256.
source .gpu-host/setup.sh
R=$OUT/r4; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
timeout 90 python3 ab.py ../build-probe/base ../build --pass fwd --dims 256 --causal both --rounds 6 > $R/ab-e8.txt 2>&1
grep -E "^fwd|mean" $R/ab-e8.txt | cut -c1-80
timeout 120 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; tail -2 $R/check.txt
cd ../..
FLASH_ATTN_KERNELS=auto FLASH_ATTN_REQUIRE_GPU=1 FLASH_ATTN_TEST_DEVICES=cuda:0 timeout 150 node --test \
  dist/tests/backend dist/tests/cuda dist/tests/ring > $R/suite-auto.txt 2>&1
echo "suite rc $?"; grep -E "^ℹ (tests|pass|fail|skipped)" $R/suite-auto.txt | tr '\n' ' '; echo
cd kernels/test
timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 python3 sanitize.py 256 > $R/san-memcheck.txt 2>&1
echo "memcheck rc $?"; tail -2 $R/san-memcheck.txt
