#!/bin/bash
# Session 36, run 2, from the repository root. kernels/build = run 1's (e462065 with pre-rows.patch) plus the ring
# kernels (run 1 lacked them: its ring suite failed on the missing manifest and skipped the rest).
# 1. The ring suite on it. 2. phases.py: each kernel's device time, ours and the peers', d = 128 / 256 at l = 512 and
# 2048. 3. ncu on the d = 128 main backward kernel, causal l = 512 and 2048 (where the first is 1.30x FlashAttention-2
# and the second 1.85x): speed of light, memory, warp states, stall sampling per instruction (stalls.py).
R=$OUT/r2; mkdir -p $R; S=$PWD/bench/results/2026-12-06-h100-s36-accum-l2
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
timeout 100 node --test --test-reporter=spec dist/tests/ring > $R/ring-suite.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped)" $R/ring-suite.txt; grep -A10 "^✖\|  ✖" $R/ring-suite.txt | head -20
cd kernels/test
FLASH_PDL_DQ=1 timeout 150 python3 phases.py --dims 128,256 --lengths 512,2048 > $R/phases.txt 2>&1; echo "phases rc $?"
for l in 512 2048; do
  FLASH_PDL_DQ=1 timeout 150 ncu -k regex:flash_bwd90 -c 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
    --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section LaunchStats \
    --section Occupancy --section SourceCounters -o $R/bwd128c$l python3 $S/prof_bwd.py 128 $l causal > $R/ncu-$l.log 2>&1
  echo "ncu $l rc $?"
  ncu --import $R/bwd128c$l.ncu-rep --page details > $R/bwd128c$l-details.txt 2>&1
  ncu --import $R/bwd128c$l.ncu-rep --page source --csv --print-source sass > $R/bwd128c$l-sass.csv 2>/dev/null
  python3 stalls.py $R/bwd128c$l-sass.csv 25 > $R/bwd128c$l-stalls.txt 2>&1
  rm -f $R/bwd128c$l-sass.csv
done
grep -E "Duration|DRAM Throughput|Compute \(SM\) Throughput|L2 Cache Throughput" $R/bwd128c*-details.txt
