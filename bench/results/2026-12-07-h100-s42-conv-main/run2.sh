#!/bin/bash
# Session 42 run 2, from the repository root with conv-pkg.patch applied and built (kernels/build, dist), and main's
# landed bf16 build in .probe/landed (its manifest and bf16 fatbins): run3.sh's check.py --quick on the package form
# and ab.py landed against it (the backward, l = 512 at 4 rounds), then the GPU suites, ab.py at 1024 / 2048 (2
# rounds), memcheck at d = 128: the most needed first, should the call be cut short.
export R=$OUT/c2
bash "$(dirname "$0")/run3.sh" || exit 0
export PYTHONUNBUFFERED=1 FLASH_PDL_DQ=1
timeout 150 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/gpu-suites.txt 2>&1; echo "suites rc $?"
grep -E "^ℹ (tests|pass|fail|skipped|duration)" $R/gpu-suites.txt; grep -A8 "^✖ failing" $R/gpu-suites.txt | head -20
cd kernels/test
timeout 120 python3 ab.py ../../.probe/landed ../build --pass bwd --dims 64,128,256 --causal both --lengths 1024,2048 --rounds 2 > $R/ab-longer.txt 2>&1; echo "== 1024, 2048"; tail -13 $R/ab-longer.txt
timeout 60 compute-sanitizer --tool memcheck python3 sanitize.py 128 > $R/memcheck-128.txt 2>&1; echo "memcheck rc $?"; tail -1 $R/memcheck-128.txt
