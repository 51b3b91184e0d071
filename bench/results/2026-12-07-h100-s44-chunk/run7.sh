#!/bin/bash
# run6.sh cut to what decides, for the device time left: d = 128, causal 512 (the paced row), three rounds; then the
# DMAIN build over causal and non-causal 512 / 2048, two rounds. Same builds and tree as run6.sh.
set -u
out=${OUT:-/tmp/out}
cd kernels/test
ab() {  # name, then ab.py arguments after the builds
  local name=$1; shift
  timeout 60 python3 ab.py ../build "$@" > "$out/$name.txt" 2>&1 || echo "exit $?" >> "$out/$name.txt"
  echo "$name: $(tail -1 "$out/$name.txt")"
}
for k in 12 8; do
  FLASH_AB_B_PACED_BLOCKS=$k ab zo-paced$k ../build-probe/zo --pass bwd --dims 128 --lengths 512 --causal yes --rounds 3
done
for k in 24 12 8; do
  FLASH_AB_B_O_MAP=1 FLASH_AB_B_PACED_BLOCKS=$k ab dmain-paced$k ../build-probe/dmain --pass bwd --dims 128 --lengths 512 \
    --causal yes --rounds 3
done
FLASH_AB_B_O_MAP=1 ab dmain-grid ../build-probe/dmain --pass bwd --dims 128 --lengths 512,2048 --causal both --rounds 2
