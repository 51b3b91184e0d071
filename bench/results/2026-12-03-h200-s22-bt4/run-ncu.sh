#!/bin/bash
# Session 22, run 3: ncu of the d = 256 backward's main kernel (bf16, l = 2048, n * l = 16k, h = 8), base and BT4.
R=$OUT/r3; mkdir -p $R
mkdir -p kernels/build_old/bt4o; cp kernels/build/* kernels/build_old/bt4o/; cp kernels/build_old/bt4o.fat/* kernels/build_old/bt4o/
cd kernels/test
for v in base bt4o; do
  B=../build; [ $v = bt4o ] && B=../build_old/bt4o
  FLASH_BUILD=$B timeout 200 ncu -k regex:flash_bwd90 -c 1 --section SpeedOfLight --section ComputeWorkloadAnalysis \
    --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables --section WarpStateStats --section Occupancy \
    --metrics sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,smsp__cycles_active.avg \
    python3 prof.py 64:512 bwd=256:2048 > $R/ncu-$v.txt 2>&1
  grep -i "duration\|throughput\|tensor_op_gmma\|shared\|bank\|Stall\|Issue" $R/ncu-$v.txt | head -40
done
