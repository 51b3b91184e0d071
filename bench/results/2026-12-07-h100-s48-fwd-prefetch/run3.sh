#!/bin/bash
# Session 48, run 3 (never ran: no machine started; run4.sh is the same without the grid), from the repository
# root, on end-align-d256.patch applied to main. kernels/build = that tree with END-ALIGN at d = 256 (tiles of up to 8
# blocks; every unit of the package), kernels/build-probe/base = main's kernels (d3fc448; bf16, d = 64, 128, 256; its
# d = 64 / 128 sm90 fatbins are byte-identical to the tree's).
# 1. ab.py, forward, d = 256, main against the tree, 8 rounds; 2. check.py --quick on the tree's build;
# 3. compute-sanitizer memcheck on sanitize.py's shapes at d = 192, 256; 4. the GPU suites on the Hopper path;
# 5. the default grid (`bench`, peers beside; FLASH_ATTN_COMMIT from the command line: the kernels' commit).
source .gpu-host/setup.sh
R=$OUT/r3; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
timeout 120 python3 ab.py ../build-probe/base ../build --pass fwd --dims 256 --causal both --rounds 8 > $R/ab-e8.txt 2>&1
grep -E "^fwd|mean" $R/ab-e8.txt | cut -c1-80
timeout 200 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; tail -2 $R/check.txt
for tool in memcheck; do
  timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 python3 sanitize.py 192 256 > $R/san-$tool.txt 2>&1
  echo "$tool rc $?"; tail -2 $R/san-$tool.txt
done
cd ../..
for path in auto; do
  FLASH_ATTN_KERNELS=$path FLASH_ATTN_REQUIRE_GPU=1 FLASH_ATTN_TEST_DEVICES=cuda:0 timeout 200 node --test \
    dist/tests/backend dist/tests/cuda dist/tests/ring > $R/suite-$path.txt 2>&1
  echo "suite $path rc $?"; grep -E "^ℹ (tests|pass|fail|skipped)" $R/suite-$path.txt | tr '\n' ' '; echo
done
export FLASH_ATTN_COMMIT="${FLASH_ATTN_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader > $R/card.txt
timeout 200 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench.json > $R/bench.txt 2>&1
echo "grid rc $?"; tail -44 $R/bench.txt | grep -v "^\["
