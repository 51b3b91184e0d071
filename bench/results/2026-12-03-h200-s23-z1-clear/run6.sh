#!/bin/bash
# Session 23, run 6: as run 5, the clearing warps polling the front every ~4 us instead of ~256 ns.
R=$OUT/r6; mkdir -p $R
cd kernels/test
timeout 100 python3 check.py --quick > $R/check.txt 2>&1; tail -2 $R/check.txt
timeout 150 compute-sanitizer --tool memcheck python3 sanitize.py 64 128 256 > $R/memcheck.txt 2>&1; tail -2 $R/memcheck.txt
timeout 200 python3 ab.py ../build_old/base ../build --pass bwd --rounds 4 > $R/ab-bwd.txt 2>&1; grep -E "bwd d|mean" $R/ab-bwd.txt | cut -c1-76
timeout 60 compute-sanitizer --tool racecheck python3 sanitize.py 64 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
