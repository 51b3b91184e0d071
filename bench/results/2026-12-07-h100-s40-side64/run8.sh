#!/bin/bash
# Session 40, run 8 (prepared, never run: no device time left), from the repository root: the SIDE-TMA probe
# (bench/NOTES.md SIDE-TMA; side-tma.patch in this folder). The carry: kernels/build = the patched tree's full build
# (`FLASH_BUILD_DEFINES=-DFLASH_SIDE_TMA node scripts/build-kernels.mjs`, `node scripts/build-ring-kernels.mjs`, then
# `rm kernels/build/describe*`), kernels/test/flashk.py from the patch (the working tree), kernels/build_landed = main's
# build of bf16 d = 64 / 128 / 256 (its sm80 / sm90 fatbins of those head dims and manifest.json: A). Correctness first
# (a hang or a wrong D stops here), then ab.py on the package's shapes, then the paced side on 12 / 16 blocks, then the
# sanitizers on the new kernel. About 5 minutes. Not the package's GPU suites on this build: the package would launch
# the probe's side with a plain FlashParams (its parameter is SideArgs), so TMA would read no maps. ab.py's rounds are
# even: it alternates which build goes first.
R=$OUT/r8; mkdir -p $R
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd kernels/test
export FLASH_PDL_DQ=1
timeout 60 python3 check.py --quick > $R/check-quick.txt 2>&1; rc=$?; echo "check rc $rc"; grep -E "comparisons|FAIL" $R/check-quick.txt | tail -4
[ $rc -eq 0 ] || { tail -20 $R/check-quick.txt; exit 1; }
timeout 60 python3 ab.py ../build_landed ../build --pass bwd --dims 64,128,256 --causal yes --lengths 512 --rounds 4 > $R/ab-causal512.txt 2>&1; tail -4 $R/ab-causal512.txt
for blocks in 12 16; do
  FLASH_AB_B_PACED_BLOCKS=$blocks timeout 45 python3 ab.py ../build_landed ../build --pass bwd --dims 64,128,256 --causal yes --lengths 512 --rounds 4 > $R/ab-paced$blocks.txt 2>&1; echo "paced $blocks"; tail -4 $R/ab-paced$blocks.txt
done
timeout 90 python3 ab.py ../build_landed ../build --pass bwd --dims 64,128,256 --causal both --lengths 1024,2048 --rounds 2 > $R/ab-longer.txt 2>&1; tail -7 $R/ab-longer.txt
timeout 60 python3 ab.py ../build_landed ../build --pass bwd --dims 64,128,256 --causal no --lengths 512 --rounds 2 > $R/ab-nc512.txt 2>&1; tail -4 $R/ab-nc512.txt
for tool in memcheck racecheck synccheck; do
  echo "== $tool" >> $R/sanitize-128.txt
  timeout 60 compute-sanitizer --tool $tool python3 sanitize.py 128 > $R/tool.txt 2>&1; echo "$tool 128 rc $?"; tail -1 $R/tool.txt
  tail -5 $R/tool.txt >> $R/sanitize-128.txt; rm $R/tool.txt
done
