#!/bin/bash
# Session 36, run 3, from the repository root. kernels/build/fold7m16 and fold7m32 = fold.patch at FLASH_PROBE_FOLD 7
# with FLASH_PROBE_ACCUM_BYTES 16 and 32 MB (run 1's fold7 had 8 MB: with fewer rows, heads running at once add into the
# same rows). 1. ab.py base against each at l = 512 / 2048. 2. ncu on the d = 128 main backward, causal l = 512 / 2048.
R=$OUT/r3; mkdir -p $R; S=$PWD/bench/results/2026-12-06-h100-s36-accum-l2
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
for v in fold7m32 fold7m16; do
  FLASH_PDL_DQ=1 timeout 60 python3 ab.py ../build/base ../build/$v --pass bwd --dims 64,128,256 --causal both --lengths 512,2048 --rounds 4 > $R/ab-$v.txt 2>&1; tail -1 $R/ab-$v.txt
done
for l in 512 2048; do
  FLASH_BUILD=../build/base FLASH_PDL_DQ=1 timeout 100 ncu -k regex:flash_bwd90 -c 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
    --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section LaunchStats \
    --section Occupancy --section SourceCounters -o $R/bwd128c$l python3 $S/prof_bwd.py 128 $l causal > $R/ncu-$l.log 2>&1
  echo "ncu $l rc $?"
  ncu --import $R/bwd128c$l.ncu-rep --page details > $R/bwd128c$l-details.txt 2>&1
  ncu --import $R/bwd128c$l.ncu-rep --page source --csv --print-source sass > $R/bwd128c$l-sass.csv 2>/dev/null
  python3 stalls.py $R/bwd128c$l-sass.csv 25 > $R/bwd128c$l-stalls.txt 2>&1
  rm -f $R/bwd128c$l-sass.csv
done
grep -E "Duration|DRAM Throughput|Compute \(SM\) Throughput|L2 Cache Throughput|Memory Throughput" $R/bwd128c*-details.txt
