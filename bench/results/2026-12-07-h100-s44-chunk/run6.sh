#!/bin/bash
# ZO-BOUND (as run5.sh) and DMAIN in one call. DMAIN: dmain.patch applied (it also carries ZO's macro), built here
# with node scripts/build-kernels.mjs --only=bf16:64,bf16:128,bf16:256 --out=kernels/build-probe/dmain
# --define=FLASH_PROBE_DMAIN (describe binaries removed); the tree's kernels/test (flashk.py's o map, ab.py's
# FLASH_AB_B_O_MAP) must be the patched one. B's dq / dk / dv are compared with A's by ab.py: D formed in the main
# kernel must give A's gradients within the reductions' order noise.
set -u
out=${OUT:-/tmp/out}
cd kernels/test
ab() {  # name, then ab.py arguments after the builds
  local name=$1; shift
  timeout 100 python3 ab.py ../build "$@" > "$out/$name.txt" 2>&1 || echo "exit $?" >> "$out/$name.txt"
  echo "$name: $(tail -1 "$out/$name.txt")"
}
for k in 24 12 8; do
  FLASH_AB_B_PACED_BLOCKS=$k ab zo-paced$k ../build-probe/zo --pass bwd --dims 64,128,256 --lengths 512 --causal yes --rounds 4
done
for k in 24 16 12 8; do
  FLASH_AB_B_O_MAP=1 FLASH_AB_B_PACED_BLOCKS=$k ab dmain-paced$k ../build-probe/dmain --pass bwd --dims 128 --lengths 512 \
    --causal yes --rounds 4
done
FLASH_AB_B_O_MAP=1 ab dmain-grid ../build-probe/dmain --pass bwd --dims 128 --lengths 512,1024,2048,8192 --causal both --rounds 2
