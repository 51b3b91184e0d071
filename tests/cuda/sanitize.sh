#!/usr/bin/env bash
# compute-sanitizer over one small shape per kernel variant (tests/cuda/sanitize-run.ts), with each tool.
# Usage, after `npx tsc -p .` and building the kernels: tests/cuda/sanitize.sh [float16:64,bfloat16:128,...]
# Exits non-zero if any tool reports an error.
set -u
cd "$(dirname "$0")/../.."
status=0
for tool in memcheck racecheck initcheck synccheck; do
  echo "== compute-sanitizer --tool $tool"
  if ! compute-sanitizer --tool "$tool" --error-exitcode 86 node dist/tests/cuda/sanitize-run.js "$@"; then
    echo "== $tool: FAILED"
    status=1
  fi
done
exit $status
