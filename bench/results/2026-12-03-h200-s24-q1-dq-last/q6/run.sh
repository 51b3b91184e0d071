#!/bin/bash
# Q6 on the GPU (carry .gpu-host, kernels/build = the commit's kernels, kernels/build_old): the items' count released
# by the producer's warp 3. Against the commit's kernels with and without the programmatic bwd_dq launch (d = 256,
# every length; d = 128 as the control: its kernels are unchanged), then check.py with and without that launch and
# the sanitizers at d = 256.
R=$OUT/q6; mkdir -p $R
cd kernels/build_old/q6test
FLASH_PDL_DQ=1 FLASH_BUILD=../q6 timeout 150 python3 check.py --quick > $R/check-pdl.txt 2>&1; tail -1 $R/check-pdl.txt; grep FAIL $R/check-pdl.txt | head -5
timeout 60 python3 ab.py ../../build ../q6 --pass bwd --dims 256 --lengths 512,2048 --rounds 3 > $R/ab-nopdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-nopdl.txt | cut -c1-90
FLASH_PDL_DQ=1 timeout 200 python3 ab.py ../../build ../q6 --pass bwd --dims 256,128 --lengths 512,1024,2048,4096,8192,16384 --rounds 3 > $R/ab-pdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-pdl.txt | cut -c1-90
FLASH_BUILD=../q6 timeout 150 python3 check.py --quick > $R/check.txt 2>&1; tail -1 $R/check.txt
FLASH_PDL_DQ=1 FLASH_BUILD=../q6 timeout 90 compute-sanitizer --tool memcheck python3 sanitize.py 256 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
FLASH_PDL_DQ=1 FLASH_BUILD=../q6 timeout 90 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
