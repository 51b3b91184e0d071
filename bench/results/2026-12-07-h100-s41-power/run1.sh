#!/bin/bash
# Session 41 run 1: s40's run8.sh (SIDE-TMA probe) on the .probe copy, then READY_WAIT inline vs called at d = 64.
R=$OUT/r1; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd .probe/kernels/test
export FLASH_PDL_DQ=1
timeout 60 python3 check.py --quick > $R/check-quick.txt 2>&1; rc=$?; echo "check rc $rc"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -4
if [ $rc -eq 0 ]; then
timeout 60 python3 ab.py ../build_landed ../build --pass bwd --dims 64,128,256 --causal yes --lengths 512 --rounds 4 > $R/ab-causal512.txt 2>&1; echo "== paced 24 (default)"; tail -4 $R/ab-causal512.txt
for blocks in 12 16; do
  FLASH_AB_B_PACED_BLOCKS=$blocks timeout 45 python3 ab.py ../build_landed ../build --pass bwd --dims 64,128,256 --causal yes --lengths 512 --rounds 4 > $R/ab-paced$blocks.txt 2>&1; echo "== paced $blocks"; tail -4 $R/ab-paced$blocks.txt
done
timeout 90 python3 ab.py ../build_landed ../build --pass bwd --dims 64,128,256 --causal both --lengths 1024,2048 --rounds 2 > $R/ab-longer.txt 2>&1; echo "== longer"; tail -7 $R/ab-longer.txt
timeout 60 python3 ab.py ../build_landed ../build --pass bwd --dims 64,128,256 --causal no --lengths 512 --rounds 2 > $R/ab-nc512.txt 2>&1; echo "== nc512"; tail -4 $R/ab-nc512.txt
for tool in memcheck racecheck synccheck; do
  echo "== $tool" >> $R/sanitize-128.txt
  timeout 60 compute-sanitizer --tool $tool python3 sanitize.py 128 > $R/tool.txt 2>&1; echo "$tool 128 rc $?"; tail -1 $R/tool.txt
  tail -5 $R/tool.txt >> $R/sanitize-128.txt; rm $R/tool.txt
done
else tail -20 $R/check-quick.txt; fi
exit 0
timeout 90 python3 ab.py ../build_landed ../build_inline --pass bwd --dims 64 --causal both --lengths 512,1024,2048 --rounds 4 > $R/ab-inline.txt 2>&1; tail -8 $R/ab-inline.txt
