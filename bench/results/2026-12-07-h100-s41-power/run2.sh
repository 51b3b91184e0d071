#!/bin/bash
R=$OUT/r2; mkdir -p $R
export PYTHONUNBUFFERED=1
cd kernels/test
timeout 150 python3 ../../.probe/fwd_span.py 2>&1 | tee $R/fwd-span.txt
timeout 200 ncu --kernel-name regex:fwd90 --metrics gpu__time_duration.sum,dram__bytes_read.sum,lts__t_sector_hit_rate.pct,lts__t_sectors_srcunit_tex_op_read.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed,dram__throughput.avg.pct_of_peak_sustained_elapsed,l1tex__m_xbar2l1tex_read_bytes.sum,sm__warps_active.avg.pct_of_peak_sustained_active python3 ../../.probe/fwd_span.py ncu > $R/ncu.txt 2>&1; echo "ncu rc $?"
grep -E "fwd90|duration|bytes|pct|sum" $R/ncu.txt | head -60
