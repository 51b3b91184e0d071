#!/bin/bash
# Session 49, run 4 (last in next.sh; needs no .gpu-host): where the d = 128 non-causal 2048 forward's time goes, the
# row 0.97x cuDNN that W1's split tail cannot close. ncu on main's kernel (kernels/build's d = 128 sm90 fatbin is
# byte-identical to main's under end-align-best.patch): pipe utilization (is the MUFU, which computes the
# exponentials, near its limit?), issue slots and warp stalls (NOTES "Where things stand (session 49)").
R=$OUT/r4; mkdir -p $R
cd kernels/test
timeout 150 ncu -k regex:flash_fwd90 -c 1 --section ComputeWorkloadAnalysis --section InstructionStats \
  --section WarpStateStats --section SpeedOfLight -o $R/fwd128 python3 prof.py 128:2048 > $R/ncu.log 2>&1
echo "ncu rc $?"
ncu --import $R/fwd128.ncu-rep --page details > $R/fwd128-details.txt 2>&1
grep -E "Pipe|Issue|Stall|Throughput|Duration" $R/fwd128-details.txt | head -40
