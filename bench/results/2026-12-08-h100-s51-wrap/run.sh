#!/bin/bash
# Session 51's WRAP run, from the repository root, on main (the kernels' sources do not matter: every build is carried).
# Carry kernels/build-probe/s51 and kernels/build-probe/s49/base (no .gpu-host, dist or node_modules: Python only).
# kernels/build-probe/s49/base = main's kernels (d3fc448; bf16, d = 64, 128, 256);
# kernels/build-probe/s51/ctr = main with wrap.patch (unsigned stage counters), same units;
# kernels/build-probe/s51/wrap = the same with FLASH_PROBE_COUNTER_BASE=0xFFFFFFFCu: every persistent block's counts
#   start 4 below 2^32, so its fifth key block (forward) or step (backward) crosses the wrap;
# kernels/build-probe/s51/signed = FLASH_PROBE_SIGNED_COUNTER with base 0x7FFFFFFC: main's signed counts, started 4 below
#   2^31, expected to fail or hang (the check that the probe reaches the wrap at all).
# 1. check.py --quick --bf16 on ctr, then on wrap; 2. memcheck on wrap at d = 128, 256; 3. ab.py main against ctr,
# forward and backward (predicted: no change beyond noise, the PTX is 7-20 lines shorter); 4. check.py on signed, last,
# under a 60 s limit. Expected: ~30 s, ~30 s, ~60 s, ~200 s, <= 60 s.
R=$OUT/wrap; mkdir -p $R
P=../build-probe
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
for b in ctr wrap; do
  FLASH_BUILD=$P/s51/$b timeout 150 python3 check.py --quick --bf16 > $R/check-$b.txt 2>&1
  echo "check $b rc $?"; tail -2 $R/check-$b.txt
done
FLASH_BUILD=$P/s51/wrap timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 python3 sanitize.py 128 256 \
  > $R/san-memcheck-wrap.txt 2>&1
echo "memcheck wrap rc $?"; tail -2 $R/san-memcheck-wrap.txt
timeout 150 python3 ab.py $P/s49/base $P/s51/ctr --pass fwd --dims 64,128,256 --lengths 512,2048,8192 --causal both --rounds 4 > $R/ab-fwd.txt 2>&1
echo "ab fwd"; grep -E "^fwd|mean" $R/ab-fwd.txt | cut -c1-80
timeout 150 python3 ab.py $P/s49/base $P/s51/ctr --pass bwd --dims 64,128,256 --lengths 512,2048,8192 --causal both --rounds 4 > $R/ab-bwd.txt 2>&1
echo "ab bwd"; grep -E "^bwd|mean" $R/ab-bwd.txt | cut -c1-80
FLASH_BUILD=$P/s51/signed timeout 60 python3 check.py --quick --bf16 > $R/check-signed.txt 2>&1
echo "check signed rc $? (expected: not 0)"; tail -3 $R/check-signed.txt
