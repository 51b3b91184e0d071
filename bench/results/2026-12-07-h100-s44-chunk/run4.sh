#!/bin/bash
# One call for both (device starts are scarce): run2.sh's TAILW sweep (each ab.py bounded to 100 s), then the GPU
# suites with the default kernels (run3.sh's first half; FLASH_ATTN_REQUIRE_GPU=1), bounded so that the call ends
# within its 600 s. Writes ab-tw*.txt, tests.log to $OUT.
set -u
out=${OUT:-/tmp/out}
here=$(dirname "$0")
start=$(date +%s)
(cd kernels/test && for w in 1 4; do
  timeout 100 python3 ab.py ../build ../build-probe/tw$w --pass bwd --dims 64,128,256 --lengths 512,1024 --causal yes \
    --rounds 4 > "$out/ab-tw$w.txt" 2>&1 || echo "ab tw$w: exit $?" >> "$out/ab-tw$w.txt"
done)
echo "TAILW: $(( $(date +%s) - start )) s" | tee "$out/times.txt"
left=$(( 570 - ($(date +%s) - start) ))
FLASH_ATTN_REQUIRE_GPU=1 FLASH_ATTN_TEST_DEVICES=cuda:0 timeout "$left" node --test --test-reporter=spec \
  dist/tests/backend dist/tests/cuda dist/tests/ring > "$out/tests.log" 2>&1
echo "suites: exit $?, $(( $(date +%s) - start )) s in all" | tee -a "$out/times.txt"
grep -E "^ℹ (tests|pass|fail|skipped)" "$out/tests.log"
grep -E "^\s*✖" "$out/tests.log" | head -20
