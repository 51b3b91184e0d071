R=$OUT/q8b; mkdir -p $R
cd kernels/build_old/q8test
FLASH_PDL_DQ=1 timeout 200 python3 -u ab.py ../../build ../q8 --pass bwd --dims 256 --causal yes --lengths 2048,4096,8192,16384 --rounds 4 > $R/ab-pdl-causal.txt 2>&1; grep -E "bwd d|mean" $R/ab-pdl-causal.txt | cut -c1-110
FLASH_PDL_DQ=1 timeout 100 python3 -u ab.py ../../build ../../build --pass bwd --dims 256 --causal yes --lengths 4096,8192 --rounds 4 > $R/ab-aa.txt 2>&1; grep -E "bwd d|mean" $R/ab-aa.txt | cut -c1-110
timeout 100 python3 -u ab.py ../../build ../q8 --pass bwd --dims 256 --lengths 512,2048 --rounds 2 > $R/ab-nopdl.txt 2>&1; grep -E "bwd d|mean" $R/ab-nopdl.txt | cut -c1-110
FLASH_PDL_DQ=1 FLASH_BUILD=../q8 timeout 100 compute-sanitizer --tool racecheck python3 sanitize.py 256 > $R/racecheck.txt 2>&1; tail -1 $R/racecheck.txt
