#!/bin/bash
# Session 29, P2 run 3, from the repository root: a = before P2, b = P2 (a global proxy fence before each dQ
# reduction), c = P2 without it, d = c with the fence on the writers' side instead (each bwd_pre_side thread fences
# its stores before the block releases the group); c and d bf16 d = 128 / 256 only. Where the side path's losses at
# long l come from (b vs c beside bwd_pre_side; a vs b with the side path off), and d against a at every length.
R=$OUT/r3; mkdir -p $R
cd kernels/test
export FLASH_PDL_DQ=1
FLASH_SIDE_PRE=44 timeout 150 python3 ab.py ../build_old/b ../build_old/c --pass bwd --dims 128,256 --lengths 512,2048,8192 --rounds 2 > $R/ab-fence.txt 2>&1; echo "fence rc $?"; tail -13 $R/ab-fence.txt
timeout 150 python3 ab.py ../build_old/a ../build_old/b --pass bwd --dims 128,256 --lengths 512,8192 --rounds 2 > $R/ab-off.txt 2>&1; echo "off rc $?"; tail -9 $R/ab-off.txt
FLASH_SIDE_PRE=44 timeout 240 python3 ab.py ../build_old/a ../build_old/d --pass bwd --dims 128,256 --rounds 2 > $R/ab-d.txt 2>&1; echo "d rc $?"; tail -25 $R/ab-d.txt
