#!/bin/bash
# Session 26, run 6, from the repository root (carry as run3.sh; kernels/build = this commit's: no ds_stored arrivals
# without dQ): synccheck per head dim (run 5 found 12800 "missing wait" reports on bwd90 d = 64's first dS barrier),
# each report's kernel, offset and barrier counted; then check.py.
R=$OUT/s26r6; mkdir -p $R
cd kernels/test
for d in 64 128 256 96; do
  FLASH_PDL_DQ=1 timeout 100 compute-sanitizer --tool synccheck --print-limit 5000 python3 sanitize.py $d > $R/synccheck-$d.txt 2>&1
  echo "d=$d: $(tail -1 $R/synccheck-$d.txt)"
  grep -oE "at flash_[a-z0-9_]+\+0x[0-9a-f]+|shared address 0x[0-9a-f]+" $R/synccheck-$d.txt | sort | uniq -c | sort -rn | head -6
done
FLASH_PDL_DQ=1 timeout 60 python3 -u check.py --quick > $R/check.txt 2>&1; grep FAIL $R/check.txt | head -3; tail -1 $R/check.txt
