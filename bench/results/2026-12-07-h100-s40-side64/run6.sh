#!/bin/bash
# Session 40, run 6, from the repository root (run5.sh replaced: the same probe on full builds). DQ-L2
# (bench/NOTES.md): kernels/build = this tree's full build with FLASH_DQ_L2 3 (bwd_dq discards dq_accum's lines once
# read and stores dq streaming); kernels/build_landed = 46e7351's build (A); kernels/build/dql2 = FLASH_DQ_L2 2
# (streaming stores only), bf16 d = 64 / 128 / 256. 1. ab.py landed against DQ-L2. 2. DQ-L2 against dql2 (B without
# the discard). 3. GPU suites, check.py --quick and memcheck at d = 128 on the DQ-L2 build.
R=$OUT/r6; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd kernels/test
export FLASH_PDL_DQ=1
timeout 200 python3 ab.py ../build_landed ../build --pass bwd --dims 64,128,256 --causal both --lengths 512,2048 --rounds 4 > $R/ab-dql3.txt 2>&1; tail -13 $R/ab-dql3.txt
timeout 80 python3 ab.py ../build ../build/dql2 --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 4 > $R/ab-dql2.txt 2>&1; tail -5 $R/ab-dql2.txt
timeout 60 python3 check.py --quick > $R/check-quick.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -3
timeout 60 compute-sanitizer --tool memcheck python3 sanitize.py 128 > $R/memcheck-128.txt 2>&1; echo "memcheck rc $?"; tail -1 $R/memcheck-128.txt
cd ../..
timeout 120 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1; echo "suites rc $?"
grep -E "^ℹ (tests|pass|fail|skipped)" $R/gpu-suites.txt; grep -A8 "^✖ failing" $R/gpu-suites.txt | head -20
