#!/bin/bash
# Session 38, run 4, from the repository root. kernels/build = 3594c7b's kernels (bf16; float16's in kernels/build/f16);
# kernels/build/pkg = the pace-pkg tree's bf16 d = 128 / 256 fatbins (bwd_pre_side paced by the main kernel's claims,
# FlashParams.pace_grid) with its manifest (and manifest-unpaced.json: the same without pacedBlocks, so the package
# runs them unpaced) and its compiled src/backend/cuda/*.js.
# 1. The GPU suites on the package form (paced). 2. flash-attn bench, paced and unpaced in alternation, bwd rows at
# l = 512 / 1024 / 2048. 3. Session 37's run3 probes (ab.py, l = 512): ctl, pace120, pc12, epi, pace240.
R=$OUT/r4; mkdir -p $R
export PYTHONUNBUFFERED=1 CUDA_MODULE_LOADING=EAGER
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
P=/tmp/pkg; U=/tmp/pkgu; mkdir -p $P $U
cp kernels/build/*.fatbin kernels/build/*.json kernels/build/f16/*.fatbin $P/
cp kernels/build/pkg/*.fatbin $P/; cp kernels/build/pkg/manifest.json $P/manifest.json
cp -r $P/. $U/; cp kernels/build/pkg/manifest-unpaced.json $U/manifest.json
rm -rf dist-pkg; cp -r dist dist-pkg; cp kernels/build/pkg/js/*.js dist-pkg/src/backend/cuda/
FLASH_ATTN_KERNEL_DIR=$P timeout 170 node --test --test-reporter=spec dist-pkg/tests/backend dist-pkg/tests/cuda > $R/gpu-suites-pkg.txt 2>&1; echo "suites rc $?"
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites-pkg.txt; grep -A12 "^✖\|  ✖" $R/gpu-suites-pkg.txt | head -30
for i in 1 2; do
  for v in P U; do
    [ $v = P ] && dir=$P || dir=$U
    FLASH_ATTN_KERNEL_DIR=$dir timeout 100 node dist-pkg/src/cli/main.js bench --device cuda:0 --d 128,256 --l 512,1024,2048 --causal both --no-peers --save $R/bench-$v$i.json > $R/bench-$v$i.txt 2>&1; echo "bench $v$i rc $?"
  done
done
cd kernels/test
export FLASH_PDL_DQ=1
for b in ../build ../build/pace120; do
  n=$(basename $b); [ $n = build ] && n=ctl
  FLASH_AB_B_SPARE_SMS=12 FLASH_AB_B_SIDE_BLOCKS=12 timeout 40 python3 ab.py ../build $b --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 2 > $R/ab-$n.txt 2>&1; echo "$n rc $?"; tail -1 $R/ab-$n.txt
done
FLASH_AB_B_SPARE_SMS=24 FLASH_AB_B_SIDE_BLOCKS=24 FLASH_AB_B_PDL_DQ=0 timeout 40 python3 ab.py ../build ../build/pc12 --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 2 > $R/ab-pc12.txt 2>&1; echo "pc12 rc $?"; tail -1 $R/ab-pc12.txt
timeout 40 python3 ab.py ../build ../build/epi --pass bwd --dims 128 --causal both --lengths 512,2048 --rounds 2 > $R/ab-epi.txt 2>&1; echo "epi rc $?"; tail -1 $R/ab-epi.txt
FLASH_AB_B_SPARE_SMS=12 FLASH_AB_B_SIDE_BLOCKS=12 timeout 40 python3 ab.py ../build ../build/pace240 --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 2 > $R/ab-pace240.txt 2>&1; echo "pace240 rc $?"; tail -1 $R/ab-pace240.txt
