#!/bin/bash
# The GPU suites on this tree (both kernel families, FLASH_ATTN_REQUIRE_GPU=1 so that a missing driver or native
# module fails instead of skipping): scripts/gpu-verify.sh's tests stage. Writes gpu.txt, tests.log, tests-sm80.log
# to $OUT.
set -u
bash scripts/gpu-verify.sh tests
