#!/bin/bash
# Session 34, run 1, from the repository root. kernels/build = this tree's kernels (P2i: bwd_dq also waits for its rows'
# ready flags, so bwd_pre_side may run where rows see no key); kernels/build/base = HEAD ad775ba's bf16 kernels.
# kernels/build/probe1 / probe2 = this tree's bf16 d = 128 / 256 kernels with probe-dq.patch (the main backward's dQ
# TMA reductions not issued / issued as plain TMA stores): wrong dq, timed only, to price the dQ reductions' traffic.
# 1. P2i's checks: check.py --quick (its keyless causal lq > lk and windowed cases now take the side path), racecheck
#    at d = 128 and 256. 2. P2i's cost: ab.py base against this tree at the lengths where the side path runs.
# 3. The probes against this tree. 4. The GPU suites through the package.
R=$OUT/r1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_PDL_DQ=1 timeout 100 python3 check.py --quick > $R/check.txt 2>&1; echo "check rc $?"; grep -E "comparisons|FAIL" $R/check.txt | tail -3
for d in 128 256; do
  FLASH_PDL_DQ=1 timeout 70 compute-sanitizer --tool racecheck python3 sanitize.py $d > $R/racecheck-$d.txt 2>&1; tail -1 $R/racecheck-$d.txt
done
FLASH_PDL_DQ=1 timeout 120 python3 ab.py ../build/base ../build --pass bwd --dims 128,256 --lengths 512,1024,2048 --rounds 6 > $R/ab-p2i.txt 2>&1; tail -1 $R/ab-p2i.txt
for v in probe1 probe2; do
  FLASH_PDL_DQ=1 timeout 120 python3 ab.py ../build ../build/$v --pass bwd --dims 128,256 --lengths 512,2048,8192 --rounds 4 > $R/ab-$v.txt 2>&1; tail -1 $R/ab-$v.txt
done
cd ../..
timeout 120 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A10 "^✖\|  ✖" $R/gpu-suites.txt | head -30
