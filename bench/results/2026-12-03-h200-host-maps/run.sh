# Session 21, device run 4: host cost per call before (dist_base: aad8e07) and after the tensor-map cache (dist),
# alternating, three rounds; then the GPU suites with the cache.
set -x
R=$OUT/r6; mkdir -p $R
for round in 1 2 3; do
  for d in kernels/build_old/dist_base dist; do FLASH_ATTN_KERNEL_DIR=$PWD/kernels/build timeout 60 node bench/host-cost.mjs $d 3000 >> $R/host-cost.txt 2>&1; done
done
timeout 240 node --test --test-reporter=spec dist/tests/backend dist/tests/cuda dist/tests/ring > $R/suites.txt 2>&1; echo "rc=$?" >> $R/suites.txt
tar czf $OUT/r6.tgz -C $OUT r6
