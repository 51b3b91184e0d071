R=$OUT/q8; mkdir -p $R
cd kernels/build_old/q8test
for c in "32 512 8 8 0 dq" "32 512 8 8 1 dq" "8 2048 8 2 1 dq" "32 512 8 8 0 dq"; do timeout 25 python3 diag.py $c 2>&1 | grep -v Warn | tail -2; done > $R/diag.txt; cat $R/diag.txt
FLASH_PDL_DQ=1 timeout 230 python3 -u ab.py ../../build ../q8 --pass bwd --dims 256 --lengths 512,1024,2048,4096,8192,16384 --rounds 2 > $R/ab-pdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-pdl.txt | cut -c1-90
FLASH_PDL_DQ=1 FLASH_BUILD=../q8 timeout 150 python3 -u check.py --quick > $R/check-pdl.txt 2>&1; grep FAIL $R/check-pdl.txt | head -3; tail -1 $R/check-pdl.txt
FLASH_BUILD=../q8 timeout 150 python3 -u check.py --quick > $R/check.txt 2>&1; grep FAIL $R/check.txt | head -3; tail -1 $R/check.txt
FLASH_PDL_DQ=1 FLASH_BUILD=../q8 timeout 80 compute-sanitizer --tool memcheck python3 sanitize.py 256 > $R/memcheck.txt 2>&1; tail -1 $R/memcheck.txt
