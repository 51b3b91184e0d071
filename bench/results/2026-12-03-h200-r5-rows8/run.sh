# Session 21, device run 5: R5, the row passes with 8 rows a block: the probe (exactness against 16 rows at l = 509 /
# 2048, then times), and an A/B of the backward (kernels/build: 572c1dc, 16 rows; kernels/build_old/r8: the same
# with 8), two rounds. Everything goes to one log as it runs.
L=$OUT/r7.log
(cd kernels/test && PYTHONPATH=. timeout 120 python3 ../build_old/rowpass_probe.py ../build_old/rowpass_16.cubin ../build_old/rowpass_8.cubin) >> $L 2>&1
for round in 1 2; do
  for b in build build_old/r8; do
    echo "== $b round $round" >> $L
    FLASH_ATTN_KERNEL_DIR=$PWD/kernels/$b timeout 60 node dist/src/cli/main.js bench --device cuda:0 --d 64,128,256 --l 512,2048 --causal both --no-peers --json 2>/dev/null | tr -d '\n' >> $L
    echo >> $L
  done
done
