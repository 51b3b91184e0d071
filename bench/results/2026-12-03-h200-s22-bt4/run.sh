#!/bin/bash
# Session 22, run 2: BT4 (S and dP by one warpgroup each, d = 256 backward): SASS spill sites, A/B, correctness.
R=$OUT/r2; mkdir -p $R
for v in bt4o bt4s; do mkdir -p kernels/build_old/$v; cp kernels/build/* kernels/build_old/$v/; cp kernels/build_old/$v.fat/* kernels/build_old/$v/; done
md5sum kernels/build_old/*/flash_sm90_bf16_d256.fatbin
for v in bt4o bt4s; do
  cuobjdump -sass -fun flash_bwd90_bf16_d256 kernels/build_old/$v/flash_sm90_bf16_d256.fatbin > $R/sass-$v.txt 2>&1
  echo "$v: $(wc -l < $R/sass-$v.txt) lines, $(grep -c HGMMA $R/sass-$v.txt) HGMMA, $(grep -c 'STL' $R/sass-$v.txt) STL, $(grep -c 'LDL' $R/sass-$v.txt) LDL"
done
gzip $R/sass-*.txt
cd kernels/test
for v in bt4o bt4s; do
  timeout 170 python3 ab.py ../build ../build_old/$v --pass bwd --dims 256 --causal both --lengths 512,1024,2048,4096,8192 --rounds 4 > $R/ab-$v.txt 2>&1
  tail -12 $R/ab-$v.txt
done
FLASH_BUILD=../build_old/bt4o timeout 150 python3 check.py --quick > $R/check-bt4o.txt 2>&1; tail -3 $R/check-bt4o.txt
FLASH_BUILD=../build_old/bt4o timeout 100 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck-bt4o.txt 2>&1; tail -3 $R/racecheck-bt4o.txt
