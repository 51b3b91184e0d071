# Session 20, device run 1: PDL correctness (GPU suites with the overlap on) and its timing A/B.
set -x
R=$OUT/r1; mkdir -p $R
nvidia-smi --query-gpu=name,clocks.sm,power.draw,temperature.gpu --format=csv > $R/smi.txt
for f in kernels/build/flash_sm90_bf16_d128.fatbin kernels/build/flash_sm80_bf16_d128.fatbin kernels/build_base/flash_sm90_bf16_d128.fatbin; do
  echo "$f" >> $R/sass.txt; cuobjdump -sass $f | grep -o -E "ACQBULK|PREEXIT|griddep[a-z_.]*" | sort | uniq -c >> $R/sass.txt
done
cuobjdump -sass kernels/build/flash_sm80_bf16_d128.fatbin | grep -E "Function :|arch = sm_|ACQBULK|PREEXIT" | head -40 >> $R/sass.txt
timeout 240 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/suites.txt 2>&1; echo "rc=$?" >> $R/suites.txt
B="node dist/src/cli/main.js bench --device cuda:0 --d 64,128,256 --l 512,1024 --causal both --no-peers --json"
for r in 1 2 3; do
  FLASH_ATTN_PDL=0 $B > $R/ab-off-$r.json 2> $R/ab-off-$r.err
  FLASH_ATTN_PDL=1 $B > $R/ab-on-$r.json 2> $R/ab-on-$r.err
  FLASH_ATTN_PDL=0 FLASH_ATTN_KERNEL_DIR=kernels/build_base $B > $R/ab-base-$r.json 2> $R/ab-base-$r.err
done
nvidia-smi --query-gpu=name,clocks.sm,power.draw,temperature.gpu --format=csv >> $R/smi.txt
tar czf $OUT/r1.tgz -C $OUT r1
