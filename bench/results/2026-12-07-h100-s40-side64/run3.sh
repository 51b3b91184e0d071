#!/bin/bash
# Session 40, run 3, from the repository root, with kernels/build = side64's full build (as run 1 / 2) and
# kernels/build/landed64 = session 38's d = 64 fatbins. 1. The same kernels with and without bwd_pre_side at d = 64
# (B without: FLASH_AB_B_SIDE_PRE=0), non-causal 512-8192 and causal 512-2048. 2. Without any bwd_pre_side, landed
# against this build: what the d = 64 backward's flag wait (and its 8-byte spill) costs where no side runs.
# 3. The paced side's blocks at d = 64 (24, as tuned at d = 128, against 16 / 20 / 32). 4. memcheck / racecheck at
# d = 128 (pacing's shape there).
R=$OUT/r3; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd kernels/test
export FLASH_PDL_DQ=1
FLASH_AB_B_SIDE_PRE=0 timeout 150 python3 ab.py ../build ../build --pass bwd --dims 64 --causal no --lengths 512,1024,2048,4096,8192 --rounds 4 > $R/ab-side-nc.txt 2>&1; tail -6 $R/ab-side-nc.txt
FLASH_AB_B_SIDE_PRE=0 timeout 80 python3 ab.py ../build ../build --pass bwd --dims 64 --causal yes --lengths 512,1024,2048 --rounds 4 > $R/ab-side-causal.txt 2>&1; tail -4 $R/ab-side-causal.txt
FLASH_SIDE_PRE=0 timeout 120 python3 ab.py ../build/landed64 ../build --pass bwd --dims 64 --causal both --lengths 512,2048,8192 --rounds 4 > $R/ab-noside.txt 2>&1; tail -7 $R/ab-noside.txt
for blocks in 16 20 32; do
  FLASH_AB_B_PACED_BLOCKS=$blocks timeout 30 python3 ab.py ../build ../build --pass bwd --dims 64 --causal yes --lengths 512 --rounds 4 > $R/ab-paced$blocks.txt 2>&1; echo "paced blocks $blocks"; tail -2 $R/ab-paced$blocks.txt | head -1
done
for tool in memcheck racecheck; do
  timeout 90 compute-sanitizer --tool $tool python3 sanitize.py 128 > $R/$tool-128.txt 2>&1; echo "$tool 128 rc $?"; tail -1 $R/$tool-128.txt
done
