#!/bin/bash
# Session 26, run 1, from the repository root (carry .gpu-host, node_modules/{koffi,@koromix,fast-check,pure-rand},
# dist, kernels/build = the forward with block w_last's P V cut to its keys, kernels/build_old/a = 9ecded8's kernels):
# check.py on the new build, the forward A / B over the grid, memcheck / racecheck of 9ecded8's d = 256 backward (Q9,
# unchanged here; bench/NOTES.md Q9 ran them on Q8 only) through the new build.
R=$OUT/s26r1; mkdir -p $R
cd kernels/test
timeout 120 python3 -u check.py --quick > $R/check.txt 2>&1; grep FAIL $R/check.txt | head -3; tail -1 $R/check.txt
timeout 200 python3 -u ab.py ../build_old/a ../build --pass fwd --rounds 3 > $R/ab-fwd.txt 2>&1; grep -E "fwd d|mean" $R/ab-fwd.txt | cut -c1-90
FLASH_PDL_DQ=1 timeout 120 compute-sanitizer --tool memcheck python3 sanitize.py 128 256 > $R/memcheck.txt 2>&1; tail -2 $R/memcheck.txt
FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -2 $R/racecheck.txt
