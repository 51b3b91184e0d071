#!/bin/bash
# One device call: correctness (both shared-memory variants), speed (current build, optional experiment in
# kernels/build_b), and with PROFILE=1 SASS and an ncu stall breakdown. Logs go to $OUT.
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1
python3 check.py --big > $OUT/check.log 2>&1; echo "check rc=$?"
grep -v "Warning\|run_backward" $OUT/check.log | grep -v "^ZERO" | tail -8
FLASH_SMEM_LIMIT=101376 python3 check.py --quick > $OUT/check_small.log 2>&1; echo "check (99 KB variants) rc=$?"
tail -2 $OUT/check_small.log
timeout 150 python3 bench.py 2>&1 | tee $OUT/bench.log | grep -v "^bwd kernels"
if [ -d ../build_b ]; then
  echo "== experiment build_b"; FLASH_BUILD=../build_b timeout 80 python3 bench.py --dims ${B_DIMS:-64,128} 2>&1 | tee $OUT/bench_b.log | tail -10
fi
[ -n "$PROFILE" ] && cuobjdump -sass -fun flash_fwd_bf16_d128 ../build/flash_sm80_bf16_d128.fatbin > $OUT/fwd128.sass 2>&1
[ -n "$PROFILE" ] && cuobjdump -sass -fun flash_bwd_large_bf16_d128 ../build/flash_sm80_bf16_d128.fatbin > $OUT/bwd128.sass 2>&1
[ -n "$PROFILE" ] && timeout 100 ncu --kernel-name regex:'flash_(fwd|bwd_large)_' --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,smsp__issue_active.avg.pct_of_peak_sustained_active' python3 prof.py > $OUT/ncu.txt 2>&1; echo "ncu rc=$?"
if [ -n "$SANITIZE" ]; then
  for tool in memcheck racecheck synccheck; do
    timeout 120 compute-sanitizer --tool $tool --print-limit 20 python3 sanitize.py ${SANITIZE_DIMS} > $OUT/sanitize_$tool.log 2>&1
    echo "compute-sanitizer $tool rc=$?: $(grep -E 'ERROR SUMMARY|sanitize:' $OUT/sanitize_$tool.log | tr '\n' ' ')"
  done
fi
