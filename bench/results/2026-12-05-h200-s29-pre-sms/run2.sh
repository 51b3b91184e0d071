#!/bin/bash
# Session 29, P2, from the repository root: kernels/build_old/a = this tree's kernels before P2, kernels/build_old/b =
# P2's (bwd_pre_side beside the Hopper bwd; built with `node scripts/build-kernels.mjs --out=kernels/build_old/b`,
# whose d = 64 bwd90 spills 40 / 24 bytes: d = 64 not timed). Both with the early bwd_dq (FLASH_PDL_DQ=1), as the
# package launches on Hopper. Correctness on B's side path, then A / B at d = 128 / 256 and the block count.
R=$OUT/r2; mkdir -p $R
cd kernels/test
export FLASH_PDL_DQ=1
FLASH_BUILD=../build_old/b FLASH_SIDE_PRE=44 timeout 150 python3 check.py --quick > $R/check-side44.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check-side44.txt | tail -3
FLASH_SIDE_PRE=44 timeout 200 python3 ab.py ../build_old/a ../build_old/b --pass bwd --dims 128,256 --lengths 512,2048,8192 --rounds 2 > $R/ab-side44.txt 2>&1; echo "ab44 rc $?"; tail -16 $R/ab-side44.txt
for G in 33 66; do
  FLASH_SIDE_PRE=$G timeout 90 python3 ab.py ../build_old/a ../build_old/b --pass bwd --dims 256 --lengths 512 --rounds 2 > $R/ab-side$G.txt 2>&1; echo "ab$G rc $?"; tail -3 $R/ab-side$G.txt
done
