#!/bin/bash
# Session 30, P2 run 4 (session 31: without git on the GPU host), from the repository root: kernels/build_old/a = bc4e54a's
# kernels, d = p2-d.patch's (ready per (batch, kv head) group, the proxy fence on the writers), e = p2-e.patch's (ready
# per 128 query rows of a (batch, head), bwd_pre_side walking such chunks in the main kernel's step order), and the
# harness of each, kernels/build_old/flashk-d.py / flashk-e.py: all made by build-old.sh. All with the early bwd_dq as
# the package launches on Hopper.
R=$OUT/r4; mkdir -p $R; B=kernels/build_old
cp $B/flashk-e.py kernels/test/flashk.py
cd kernels/test
export FLASH_PDL_DQ=1
FLASH_BUILD=../build_old/e FLASH_SIDE_PRE=44 timeout 100 python3 check.py --quick > $R/check-e.txt 2>&1; echo "check e rc $?"; grep -E "comparisons|FAIL" $R/check-e.txt | tail -3
FLASH_SIDE_PRE=44 timeout 200 python3 ab.py ../build_old/a ../build_old/e --pass bwd --dims 128,256 --lengths 512,1024,2048,8192 --rounds 2 > $R/ab-e.txt 2>&1; echo "ab e rc $?"; tail -18 $R/ab-e.txt
cp ../build_old/flashk-d.py flashk.py
FLASH_SIDE_PRE=44 timeout 180 python3 ab.py ../build_old/a ../build_old/d --pass bwd --dims 128,256 --lengths 512,1024,2048,8192 --rounds 2 > $R/ab-d.txt 2>&1; echo "ab d rc $?"; tail -18 $R/ab-d.txt
