#!/bin/bash
# Session 46, call 2: the sanitizers on SPLITV's build at d = 128 and 256 (sanitize.py's shapes: GQA, windows, a paced
# side, more items than multiprocessors; default and deterministic backward), the long rows, and the deterministic
# backward's A / B.
R=$OUT/r2; mkdir -p $R
export PYTHONUNBUFFERED=1
cd kernels/test
for d in 128 256; do
  for tool in racecheck memcheck; do
    FLASH_BUILD=../build-probe/splitv timeout 100 compute-sanitizer --tool $tool python3 sanitize.py $d > $R/$tool-$d.txt 2>&1
    echo "$tool $d rc $?"; tail -1 $R/$tool-$d.txt
  done
done
export FLASH_PDL_DQ=1
timeout 150 python3 ab.py ../build ../build-probe/splitv --pass bwd --dims 128,256 --causal both --lengths 8192 \
  --rounds 4 > $R/ab-long.txt 2>&1; echo "ab-long rc $?"; tail -6 $R/ab-long.txt
timeout 100 python3 ab.py ../build ../build-probe/splitv --pass bwd --dims 128,256 --causal yes --lengths 512 \
  --rounds 2 --deterministic > $R/ab-det.txt 2>&1; echo "ab-det rc $?"; tail -4 $R/ab-det.txt
