#!/bin/bash
# Session 28, run 4, from the repository root: ncu on the d = 256 dq pass of DQ3 with the late wait for D
# (kernels/build_old/v3), deterministic causal backward at l = 512, its most stalled instructions, and its SASS.
R=$OUT/s28r4; mkdir -p $R
cd kernels/test
export FLASH_BUILD=../build_old/v3
timeout 150 ncu --kernel-name regex:bwd_dq_det90 --launch-count 1 --section SpeedOfLight --section WarpStateStats \
  --section SourceCounters --section Occupancy -o $R/dq256 -f python3 prof.py det=256:512 > $R/ncu256.log 2>&1
ncu --import $R/dq256.ncu-rep --page details > $R/dq256-details.txt 2>&1
ncu --import $R/dq256.ncu-rep --page source --csv --print-source sass > $R/dq256.csv 2>/dev/null
python3 stalls.py $R/dq256.csv 40 > $R/dq256-stalls.txt 2>&1
rm -f $R/dq256.csv $R/dq256.ncu-rep
grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Registers" $R/dq256-details.txt | head -6
cuobjdump -sass -fun flash_bwd_dq_det90_bf16_d256 ../build_old/v3/flash_sm90_bf16_d256.fatbin > $R/dq256.sass 2>&1; wc -l $R/dq256.sass
