#!/bin/bash
# Session 33, run 6 (two calls on the same warm machine, right after run 5): compute-sanitizer memcheck, racecheck
# and synccheck at d = 128 (bwd_pre_side with 8 rows a warp beside the Hopper backward) on kernels/test/sanitize.py.
R=$OUT/r6; mkdir -p $R; cd kernels/test
for tool in memcheck racecheck synccheck; do
  FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool $tool python3 sanitize.py 128 > $R/$tool.txt 2>&1; tail -1 $R/$tool.txt
done
