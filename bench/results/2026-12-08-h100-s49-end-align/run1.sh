#!/bin/bash
# Session 49, run 1, from the repository root, on end-align-d256.patch (session 48) applied to main.
# kernels/build = the tree (END-ALIGN at d = 256 in tiles of up to 8 key blocks; every unit of the package);
# kernels/build-probe/s49/base = main's kernels (d3fc448; bf16, d = 64, 128, 256);
# kernels/build-probe/s49/eb4, eb16 = the tree with FLASH_PROBE_END_ALIGN_BLOCKS=4 / 16 (bf16, d = 256);
# kernels/build-probe/s49/ba = the tree with FLASH_PROBE_BEST_ALIGN (bf16, d = 64, 128, 256; d = 64 as the tree's).
# (end-align-best.patch is end-align-d256.patch with the BEST-ALIGN probe; without the define its fatbins are
# byte-identical to end-align-d256.patch's. The probe dirs hold no describe binaries: the carry's 64 MiB.)
# 1. ab.py, forward: main against the tree at d = 256 (twice), the tree against eb4 and eb16 (d = 256 causal), main
# against ba (d = 128, 256 causal; d = 128 non-causal) and the tree against ba (d = 256 causal);
# 2. check.py --quick on the tree; 3. the GPU suites on the Hopper path; 4. compute-sanitizer memcheck at d = 256.
source .gpu-host/setup.sh
R=$OUT/r1; mkdir -p $R
P=../build-probe/s49
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
for k in 1 2; do
  timeout 90 python3 ab.py $P/base ../build --pass fwd --dims 256 --causal both --rounds 6 > $R/ab-e8-$k.txt 2>&1
  echo "ab e8 $k"; grep -E "^fwd|mean" $R/ab-e8-$k.txt | cut -c1-80
done
for n in 4 16; do
  timeout 60 python3 ab.py ../build $P/eb$n --pass fwd --dims 256 --causal yes --rounds 6 > $R/ab-eb$n.txt 2>&1
  echo "ab eb$n"; grep -E "^fwd|mean" $R/ab-eb$n.txt | cut -c1-80
done
timeout 60 python3 ab.py $P/base $P/ba --pass fwd --dims 128,256 --causal yes --rounds 6 > $R/ab-ba.txt 2>&1
echo "ab ba"; grep -E "^fwd|mean" $R/ab-ba.txt | cut -c1-80
timeout 60 python3 ab.py $P/base $P/ba --pass fwd --dims 128 --causal no --rounds 4 > $R/ab-ba-full.txt 2>&1
echo "ab ba non-causal"; grep -E "^fwd|mean" $R/ab-ba-full.txt | cut -c1-80
timeout 60 python3 ab.py ../build $P/ba --pass fwd --dims 256 --causal yes --rounds 6 > $R/ab-e8-ba.txt 2>&1
echo "ab e8 against ba"; grep -E "^fwd|mean" $R/ab-e8-ba.txt | cut -c1-80
timeout 150 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; tail -2 $R/check.txt
cd ../..
FLASH_ATTN_KERNELS=auto FLASH_ATTN_REQUIRE_GPU=1 FLASH_ATTN_TEST_DEVICES=cuda:0 timeout 240 node --test \
  dist/tests/backend dist/tests/cuda dist/tests/ring > $R/suite-auto.txt 2>&1
echo "suite rc $?"; grep -E "^ℹ (tests|pass|fail|skipped)" $R/suite-auto.txt | tr '\n' ' '; echo
cd kernels/test
timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 python3 sanitize.py 256 > $R/san-memcheck.txt 2>&1
echo "memcheck rc $?"; tail -2 $R/san-memcheck.txt
