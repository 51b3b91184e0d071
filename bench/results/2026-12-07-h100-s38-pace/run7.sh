#!/bin/bash
# Session 38, run 7 (written for the next session; not run here: the device time was spent), from the repository root.
# kernels/build and dist: a clean clone's `bash .ci/run` output (the landed kernels; both dtypes); kernels/build/pw2:
# the same bf16 d = 128 / 256 with pace-waves2.patch (bwd_pre_side paced two waves ahead instead of one).
# 1. The landed build: GPU suites, check.py --quick (its sanitize-free comparisons, paced rows included: flashk.py
#    mirrors pacing), the causal 512 / 1024 rows (ours). 2. compute-sanitizer memcheck, racecheck and synccheck at
#    d = 128 (sanitize.py: one shape paced beside a main kernel with more items than multiprocessors). 3. ab.py:
#    pacing off in B (the harness's view of PACE2's +7%), pw2 against the landed one, and pacing at l = 1024 on 20
#    blocks (PACE2: +1.7% / 0.0% in the package).
R=$OUT/r7; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1; echo "suites rc $?"
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -20
timeout 30 node dist/src/cli/main.js bench --device cuda:0 --d 128,256 --l 512,1024 --causal yes --no-peers > $R/bench-causal.txt 2>&1; tail -4 $R/bench-causal.txt
cd kernels/test
export FLASH_PDL_DQ=1
timeout 90 python3 check.py --quick > $R/check-quick.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -3
for tool in memcheck racecheck synccheck; do
  timeout 100 compute-sanitizer --tool $tool python3 sanitize.py 128 > $R/$tool.txt 2>&1; echo "$tool rc $?"; tail -1 $R/$tool.txt
done
FLASH_AB_B_PACE=0 timeout 40 python3 ab.py ../build ../build --pass bwd --dims 128,256 --causal both --lengths 512 --rounds 3 > $R/ab-unpaced.txt 2>&1; tail -1 $R/ab-unpaced.txt
timeout 40 python3 ab.py ../build ../build/pw2 --pass bwd --dims 128,256 --causal yes --lengths 512 --rounds 3 > $R/ab-pw2.txt 2>&1; tail -1 $R/ab-pw2.txt
FLASH_AB_B_PACE_MAX_KEYS=1024 FLASH_AB_B_PACED_BLOCKS=20 timeout 40 python3 ab.py ../build ../build --pass bwd --dims 128,256 --causal yes --lengths 1024 --rounds 3 > $R/ab-pace1024.txt 2>&1; tail -1 $R/ab-pace1024.txt
