#!/bin/bash
# Session 34, run 4 (run 3, the sanitizers on the DQ-turn build, was dropped with DQ-turn), from the repository root.
# kernels/build/base = HEAD's bf16 d = 128 / 256 kernels; beside it, each built from HEAD with one change
# (l2-chunk.patch): hintL = the dQ reductions under an L2 evict_last policy (DQ-L2); chunk8 / chunk2 = KEY_CHUNK 8 / 2
# (the causal item order's chunk of a head's key blocks; TAILED_UPTO kept at 8). ab.py base against each.
R=$OUT/r4; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $R/gpu.txt
cd kernels/test
FLASH_PDL_DQ=1 timeout 150 python3 ab.py ../build/base ../build/hintL --pass bwd --dims 128,256 --lengths 512,1024,2048,4096,8192 --rounds 6 > $R/ab-hintL.txt 2>&1; tail -1 $R/ab-hintL.txt
for v in chunk8 chunk2; do
  FLASH_PDL_DQ=1 timeout 150 python3 ab.py ../build/base ../build/$v --pass bwd --dims 128,256 --causal yes --lengths 512,1024,2048,4096,8192 --rounds 6 > $R/ab-$v.txt 2>&1; tail -1 $R/ab-$v.txt
done
