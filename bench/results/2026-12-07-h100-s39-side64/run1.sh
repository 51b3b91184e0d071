#!/bin/bash
# Session 39, run 1, from the repository root. kernels/build: this tree's full build (bwd_pre_side at d = 64 too, the
# d = 64 Hopper backward waiting on its flags by a call; every other fatbin byte-identical to session 38's landed
# build); kernels/build/landed64: session 38's landed bf16 d = 64 fatbins and manifest (bwd_pre first at d = 64);
# kernels/build/pw2: s38's pace-waves2.patch build. 1. GPU suites and check.py --quick on this build. 2. compute-
# sanitizer memcheck / racecheck / synccheck at d = 64 (a paced shape; d = 64's side is
# new). 3. ab.py d = 64 backward, landed against this build (first).
R=$OUT/r1; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
(cd kernels/test && FLASH_PDL_DQ=1 timeout 100 python3 ab.py ../build/landed64 ../build --pass bwd --dims 64 --causal both --lengths 512,1024,2048,4096 --rounds 4 > $R/ab-side64.txt 2>&1; tail -12 $R/ab-side64.txt)
timeout 130 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1; echo "suites rc $?"
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -B2 -A12 "^✖\|  ✖" $R/gpu-suites.txt | head -30
cd kernels/test
export FLASH_PDL_DQ=1
timeout 100 python3 check.py --quick > $R/check-quick.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -3
for tool in memcheck racecheck synccheck; do
  timeout 70 compute-sanitizer --tool $tool python3 sanitize.py 64 > $R/$tool.txt 2>&1; echo "$tool rc $?"; tail -1 $R/$tool.txt
done
