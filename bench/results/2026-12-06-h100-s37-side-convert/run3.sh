#!/bin/bash
# Session 37, run 3, from the repository root (ab.py rows at l = 512, bf16, 2 rounds; A = kernels/build, 3594c7b's
# kernels, or base, e462065's). Every kernel is loaded before the first launch (ab.py's preload, and eager loading):
# a first load while bwd_pre_side runs can wait for it, and pace's bwd_pre_side waits for the main kernel.
# (1) PACE: pace.patch's bwd_pre_side (12 blocks) zeroes and computes D for a head only once the main kernel (on 120
# blocks) has claimed items up to 120 (pace120) or 240 (pace240) before the head's first; ctl = kernels/build itself
# with the same grids, unpaced.
# (1b) epi: epi-tma.patch, the d = 128 backward's dK / dV written by TMA stores from the consumer warps' stages (the
# consumers go on to the next item while they drain), against kernels/build at l = 512 / 2048.
# (2) fold.patch (second form) at bits 3 (zeroing + reductions folded; bwd_dq reads the real rows) and 4 (bwd_dq's
# reads folded only).
# (3) pc12 / pc12nd: pace-convert.patch (pace.patch plus converters): bwd_pre_side on 24 blocks, the first 12 pacing
# as pace120 does, the other 12 converting each head's dq as soon as its items are counted (bwd_dq does nothing; it is
# launched plainly, after everything), then dropping the converted dq_accum lines from L2 (pc12; pc12nd keeps them);
# the main kernel on 108 blocks. This also tests the reading of conv12's hang (runs 1, 2b): converters that wait for
# the main kernel run here too, with every kernel preloaded.
R=$OUT/r3; mkdir -p $R
export PYTHONUNBUFFERED=1 FLASH_PDL_DQ=1 CUDA_MODULE_LOADING=EAGER
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
for b in ../build ../build/pace120; do
  n=$(basename $b); [ $n = build ] && n=ctl
  FLASH_AB_B_SPARE_SMS=12 FLASH_AB_B_SIDE_BLOCKS=12 timeout 40 python3 ab.py ../build $b --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 2 > $R/ab-$n.txt 2>&1; echo "$n rc $?"; tail -1 $R/ab-$n.txt
done
for b in ../build/pc12 ../build/pc12nd; do
  n=$(basename $b)
  FLASH_AB_B_SPARE_SMS=24 FLASH_AB_B_SIDE_BLOCKS=24 FLASH_AB_B_PDL_DQ=0 timeout 40 python3 ab.py ../build $b --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 2 > $R/ab-$n.txt 2>&1; echo "$n rc $?"; tail -1 $R/ab-$n.txt
done
timeout 40 python3 ab.py ../build ../build/epi --pass bwd --dims 128 --causal both --lengths 512,2048 --rounds 2 > $R/ab-epi.txt 2>&1; echo "epi rc $?"; tail -1 $R/ab-epi.txt
FLASH_AB_B_SPARE_SMS=12 FLASH_AB_B_SIDE_BLOCKS=12 timeout 40 python3 ab.py ../build ../build/pace240 --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 2 > $R/ab-pace240.txt 2>&1; echo "pace240 rc $?"; tail -1 $R/ab-pace240.txt
for f in 3 4; do
  timeout 40 python3 ab.py ../build/base ../build/b4f$f --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 2 > $R/ab-b4f$f.txt 2>&1; echo "b4f$f rc $?"; tail -1 $R/ab-b4f$f.txt
done
