#!/bin/bash
# Session 39, run 1c: run1.sh cut to what ~200 s of device time allows (the session's failed starts used the rest):
# ab.py d = 64 at l = 512 / 2048 (2 rounds), the GPU suites, memcheck at d = 64 on sanitize.py's shapes.
R=$OUT/r1c; mkdir -p $R
export PYTHONUNBUFFERED=1 FLASH_PDL_DQ=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $R/gpu.txt
(cd kernels/test && timeout 40 python3 ab.py ../build/landed64 ../build --pass bwd --dims 64 --causal both --lengths 512,2048 --rounds 2 > $R/ab-side64.txt 2>&1; tail -6 $R/ab-side64.txt)
timeout 110 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1; echo "suites rc $?"
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -B2 -A12 "^✖\|  ✖" $R/gpu-suites.txt | head -30
(cd kernels/test && timeout 60 compute-sanitizer --tool memcheck python3 sanitize.py 64 > $R/memcheck.txt 2>&1; echo "memcheck rc $?"; tail -1 $R/memcheck.txt)
