#!/bin/bash
# Session 23, run 7: Z1's fourth version (the proxy fence moved from the consumers' issuing lane to the clearing
# lanes, after their zeros) against the kernels before Z1, and variants of its d = 64 / 128 fatbins: nrw = without
# the row lanes' wait, rlx = the clearing lanes with no fence at all (a relaxed add; both timing only: dq may be
# wrong), big = units of 512 KB instead of 64 KB (an eighth of the releases).
R=$OUT/r7; mkdir -p $R
for v in nrw rlx big; do mkdir -p kernels/build_old/full_$v; cp kernels/build/* kernels/build_old/full_$v/; cp kernels/build_old/$v/* kernels/build_old/full_$v/; done
cd kernels/test
timeout 60 python3 ab.py ../build_old/base ../build --pass bwd --dims 64,128,256 --lengths 512,2048 --rounds 2 > $R/ab-bwd.txt 2>&1; grep -E "bwd d|mean" $R/ab-bwd.txt | cut -c1-76
for v in nrw rlx big; do
  echo "== $v" >> $R/ab-bwd-variants.txt
  timeout 50 python3 ab.py ../build_old/base ../build_old/full_$v --pass bwd --dims 64,128 --lengths 512,2048 --rounds 2 >> $R/ab-bwd-variants.txt 2>&1
done
grep -E "==|bwd d|mean" $R/ab-bwd-variants.txt | cut -c1-76
FLASH_BUILD=../build_old/full_big timeout 100 python3 check.py --quick > $R/check-big.txt 2>&1; tail -1 $R/check-big.txt
FLASH_BUILD=../build_old/full_big timeout 60 compute-sanitizer --tool memcheck python3 sanitize.py 64 128 > $R/memcheck-big.txt 2>&1; tail -1 $R/memcheck-big.txt
# The grid on the kernels before Z1 (170bec2's: B39 included), which the README's table predates.
cd ../..
FLASH_ATTN_COMMIT=170bec2 FLASH_ATTN_KERNEL_DIR=kernels/build_old/base timeout 200 node dist/src/cli/main.js bench --device cuda:0 --save $R/bench-170bec2.json > $R/bench-170bec2.txt 2>&1; tail -45 $R/bench-170bec2.txt
