#!/bin/bash
# Session 42 run 1: CONV-MAIN (conv-main.patch: the Hopper backward's consumers convert each (batch, kv head) group's
# dq once its count completes; bwd_dq converts nothing) built into .probe/convall (see README.md), against main's
# kernels/build: check.py --quick, ab.py on the backward at l = 512 (4 rounds) and 1024 / 2048 (2 rounds), the
# sanitizers at d = 128.
R=$OUT/c1; mkdir -p $R
export PYTHONUNBUFFERED=1 FLASH_PDL_DQ=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
P=$PWD/.probe/convall
cd kernels/test
FLASH_BUILD=$P timeout 90 python3 check.py --quick > $R/check-quick.txt 2>&1; rc=$?; echo "check rc $rc"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -4
if [ $rc -ne 0 ]; then tail -20 $R/check-quick.txt; exit 0; fi
timeout 90 python3 ab.py ../build $P --pass bwd --dims 64,128,256 --causal both --lengths 512 --rounds 4 > $R/ab-512.txt 2>&1; echo "== 512"; tail -7 $R/ab-512.txt
timeout 120 python3 ab.py ../build $P --pass bwd --dims 64,128,256 --causal both --lengths 1024,2048 --rounds 2 > $R/ab-longer.txt 2>&1; echo "== 1024, 2048"; tail -13 $R/ab-longer.txt
for tool in memcheck racecheck synccheck; do
  FLASH_BUILD=$P timeout 75 compute-sanitizer --tool $tool python3 sanitize.py 128 > $R/tool.txt 2>&1; echo "$tool 128 rc $?"; tail -1 $R/tool.txt
  { echo "== $tool 128"; tail -5 $R/tool.txt; } >> $R/sanitize.txt; rm $R/tool.txt
done
