#!/bin/bash
# Session 27, run 8, from the repository root (kernels/build = a54a683's: DQ1's bwd_dq_det90): ncu on the d = 256 and
# d = 128 dq passes of a deterministic causal backward at l = 512 (speed of light, warp states, source counters), and
# their most stalled instructions (stalls.py).
R=$OUT/s27r8; mkdir -p $R
cd kernels/test
for d in 256 128; do
  timeout 150 ncu --kernel-name regex:bwd_dq_det90 --launch-count 1 --section SpeedOfLight --section WarpStateStats \
    --section SourceCounters --section Occupancy --section MemoryWorkloadAnalysis -o $R/dq$d -f python3 prof.py det=$d:512 > $R/ncu$d.log 2>&1
  ncu --import $R/dq$d.ncu-rep --page details > $R/dq$d-details.txt 2>&1
  ncu --import $R/dq$d.ncu-rep --page source --csv --print-source sass > $R/dq$d.csv 2>/dev/null
  python3 stalls.py $R/dq$d.csv 25 > $R/dq$d-stalls.txt 2>&1
  rm -f $R/dq$d.csv
  grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Registers|Achieved" $R/dq$d-details.txt | head -8
done
