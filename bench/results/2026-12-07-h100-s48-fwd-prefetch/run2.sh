#!/bin/bash
# Session 48, run 2, from the repository root. kernels/build = main's kernels (d3fc448); kernels/build-probe/ea = main
# with FLASH_PROBE_FWD_END_ALIGN (fwd-end-align.patch; bf16, d = 64, 128, 256).
# 1. ab.py, forward, main against ea, causal then non-causal (code unchanged there), then causal again; 2. main against
# main, causal (the rows' spread between runs); 3. ncu on both builds' forward, d = 256 and 128, causal 512;
# 4. check.py --quick on kernels/build-probe/eafull (every unit of the package built with FLASH_PROBE_FWD_END_ALIGN).
R=$OUT/r2; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
timeout 100 python3 ab.py ../build ../build-probe/ea --pass fwd --causal yes --rounds 4 > $R/ab-ea.txt 2>&1
timeout 100 python3 ab.py ../build ../build-probe/ea --pass fwd --causal no --rounds 4 > $R/ab-ea-full.txt 2>&1
timeout 100 python3 ab.py ../build ../build-probe/ea --pass fwd --causal yes --rounds 4 > $R/ab-ea2.txt 2>&1
timeout 100 python3 ab.py ../build ../build --pass fwd --causal yes --rounds 4 > $R/ab-aa.txt 2>&1
for f in ab-ea ab-ea-full ab-ea2 ab-aa; do echo "== $f"; grep -E "^fwd|mean" $R/$f.txt | cut -c1-75; done
for b in build build-probe/ea; do
  n=$(basename $b)
  FLASH_BUILD=../$b timeout 100 ncu -k regex:flash_fwd90 -c 2 --section SpeedOfLight --section MemoryWorkloadAnalysis \
    -o $R/fwd-$n python3 prof.py 256:512:causal 128:512:causal bwd=64:512 > $R/ncu-$n.log 2>&1; echo "ncu $n rc $?"
  ncu --import $R/fwd-$n.ncu-rep --page details > $R/fwd-$n-details.txt 2>&1
  grep -E "flash_fwd90|Duration|DRAM Throughput|L2 Cache Throughput|Compute \(SM\) Throughput|L2 Hit" $R/fwd-$n-details.txt
done
FLASH_BUILD=../build-probe/eafull timeout 300 python3 check.py --quick > $R/check-eafull.txt 2>&1; echo "check rc $?"
tail -4 $R/check-eafull.txt
