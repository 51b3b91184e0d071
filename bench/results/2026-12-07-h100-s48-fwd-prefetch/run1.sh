#!/bin/bash
# Session 48, run 1, from the repository root. kernels/build = main's kernels (d3fc448); kernels/build-probe/pf1 and
# pf2 = main with FLASH_PROBE_FWD_PREFETCH=1 / 2 (fwd-prefetch.patch; bf16, d = 64, 128, 256).
# 1. ncu on main's forward at d = 256 causal 512 and d = 128 non-causal 2048 (the two forward rows short of a goal):
#    speed of light, memory, warp states. 2. ab.py, forward, main against pf1, then against pf2.
R=$OUT/r1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
timeout 120 ncu -k regex:flash_fwd90 -c 2 --section SpeedOfLight --section MemoryWorkloadAnalysis \
  --section WarpStateStats --section LaunchStats -o $R/fwd python3 prof.py 256:512:causal 128:2048 bwd=64:512 \
  > $R/ncu.log 2>&1; echo "ncu rc $?"
ncu --import $R/fwd.ncu-rep --page details > $R/fwd-details.txt 2>&1
grep -E "flash_fwd90|Duration|DRAM Throughput|Compute \(SM\) Throughput|L2 Cache Throughput|Memory Throughput|L1/TEX Hit|L2 Hit" $R/fwd-details.txt
for b in pf1 pf2; do
  timeout 200 python3 ab.py ../build ../build-probe/$b --pass fwd --causal both --rounds 4 > $R/ab-$b.txt 2>&1
  echo "ab $b rc $?"; grep -E "^fwd|mean" $R/ab-$b.txt
done
