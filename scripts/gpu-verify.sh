#!/usr/bin/env bash
# flash-attn's verification on a CUDA machine, in one go: the backend suite, GPU-only checks and ring
# tests on cuda:0 (twice: default kernels into tests.log, FLASH_ATTN_KERNELS=sm80 into tests-sm80.log), the
# demo, and the benchmark with PyTorch's flash and cuDNN attention timed in the same run, and ring attention
# with W virtual ranks on this GPU. Usage: scripts/gpu-verify.sh [tests] [demo] [bench] [ring] (default: all
# four); logs go to $OUT (or bench/results/latest/). Extra benchmark flags come from $BENCH_ARGS.
set -uo pipefail
out=${OUT:-bench/results/latest}
# The device copy of the tree has no .git: pass the commit along (FLASH_ATTN_COMMIT=$(git rev-parse --short HEAD)).
mkdir -p "$out"
# On a GPU host a driver or koffi that fails to load must fail the tests, not skip every GPU test.
export FLASH_ATTN_REQUIRE_GPU=${FLASH_ATTN_REQUIRE_GPU:-1}
stages=${*:-tests demo bench ring}
status=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
if [[ " $stages " == *" tests "* ]]; then
  # Twice: the default kernels (the Hopper forward and backward where the card is 9.0), then
  # FLASH_ATTN_KERNELS=sm80 (the sm_80 family everywhere), so one H100 checks both families.
  for family in default sm80; do
    if [[ $family == sm80 ]]; then log="$out/tests-sm80.log" kernels=sm80; else log="$out/tests.log" kernels=; fi
    FLASH_ATTN_KERNELS=$kernels FLASH_ATTN_TEST_DEVICES=${FLASH_ATTN_TEST_DEVICES:-cuda:0} node --test --test-reporter=spec \
      dist/tests/backend dist/tests/cuda dist/tests/ring > "$log" 2>&1 || status=1
    echo "tests with the $family kernels ($log):"
    grep -E "^ℹ (tests|pass|fail|skipped)" "$log"
    grep -E "^\s*✖" "$log" | head -40
  done
fi
if [[ " $stages " == *" demo "* ]]; then
  node dist/src/cli/main.js demo 2>&1 | tee "$out/demo.log" || status=1
fi
if [[ " $stages " == *" bench "* ]]; then
  # shellcheck disable=SC2086
  node dist/src/cli/main.js bench --device cuda:0 --save "$out/bench.json" ${BENCH_ARGS:-} 2> "$out/bench-progress.log" | tee "$out/bench.txt" || status=1
fi
if [[ " $stages " == *" ring "* ]]; then
  node dist/src/cli/main.js bench --ring --device cuda:0 --dtype bfloat16 --d 128 --world 1,2,4 --l 8192 \
    2> "$out/ring-progress.log" | tee "$out/ring.txt" || status=1
fi
exit $status
