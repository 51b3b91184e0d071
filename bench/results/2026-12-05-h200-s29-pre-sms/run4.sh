#!/bin/bash
# Session 30, P2 run 4, from the repository root: kernels/build_old/a = bc4e54a's
# kernels, d = p2-d.patch's (ready per (batch, kv head) group, the proxy fence on the writers), e = p2-e.patch's (ready
# per 128 query rows of a (batch, head), bwd_pre_side walking such chunks in the main kernel's step order); each built
# with `node scripts/build-kernels.mjs --only=bf16:128,bf16:256 --out=kernels/build_old/X`. d and e need their harnesses
# (each patch's kernels/test/flashk.py hunk), applied in turn to the copy the GPU host runs. All with the early bwd_dq as the package launches on Hopper.
R=$OUT/r4; mkdir -p $R; H=bench/results/2026-12-05-h200-s29-pre-sms
git apply --include=kernels/test/flashk.py $H/p2-e.patch
cd kernels/test
export FLASH_PDL_DQ=1
FLASH_BUILD=../build_old/e FLASH_SIDE_PRE=44 timeout 100 python3 check.py --quick > $R/check-e.txt 2>&1; echo "check e rc $?"; grep -E "comparisons|FAIL" $R/check-e.txt | tail -3
FLASH_SIDE_PRE=44 timeout 200 python3 ab.py ../build_old/a ../build_old/e --pass bwd --dims 128,256 --lengths 512,1024,2048,8192 --rounds 2 > $R/ab-e.txt 2>&1; echo "ab e rc $?"; tail -18 $R/ab-e.txt
(cd ../.. && git checkout -- kernels/test/flashk.py && git apply --include=kernels/test/flashk.py $H/p2-d.patch)
FLASH_SIDE_PRE=44 timeout 180 python3 ab.py ../build_old/a ../build_old/d --pass bwd --dims 128,256 --lengths 512,1024,2048,8192 --rounds 2 > $R/ab-d.txt 2>&1; echo "ab d rc $?"; tail -18 $R/ab-d.txt
