#!/bin/bash
# Session 42 run 3: run2.sh cut to what a short device budget holds (as run2: conv-pkg.patch applied and built, main's
# landed bf16 build in .probe/landed): check.py --quick on the package form, then ab.py landed against it at l = 512
# (the backward, 4 rounds). Writes $R (run2.sh's, or $OUT/c3); exits 1 where check.py fails.
R=${R:-$OUT/c3}; mkdir -p $R
export PYTHONUNBUFFERED=1 FLASH_PDL_DQ=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd kernels/test
timeout 80 python3 check.py --quick > $R/check-quick.txt 2>&1; rc=$?; echo "check rc $rc"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -4
if [ $rc -ne 0 ]; then tail -20 $R/check-quick.txt; exit 1; fi
timeout 100 python3 ab.py ../../.probe/landed ../build --pass bwd --dims 64,128,256 --causal both --lengths 512 --rounds 4 > $R/ab-512.txt 2>&1; echo "== 512"; tail -7 $R/ab-512.txt
