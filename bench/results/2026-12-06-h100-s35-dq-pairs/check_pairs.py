"""Session 35: the Hopper backward in pairs of blocks (DqPair) against float64, on the calls that pair (no mask, an
even number of 128-key blocks a head, d in (64, 128]), and a few that do not. Run from kernels/test with FLASH_BUILD
set to a build whose d = 128 bwd90 is marked pairsDq. Usage: python3 check_pairs.py"""
import os
import sys
import time

import torch

sys.path.insert(0, os.getcwd())
from check import COUNT, FAILURES, run_case  # noqa: E402
from flashk import Kernels  # noqa: E402

K = Kernels()
t0 = time.time()
# (n, lq, lk, h, hk, d): 2 key blocks (one cluster), partial last blocks, lq != lk, GQA / MQA, d padded to 128,
# more pairs than clusters (several items a block), batch > 1.
CASES = [(1, 200, 256, 2, 1, 128), (1, 64, 200, 4, 2, 128), (2, 300, 500, 6, 3, 96), (1, 1000, 1024, 4, 1, 120),
         (2, 2048, 2048, 8, 8, 128), (3, 3000, 3000, 6, 3, 128), (1, 4096, 4000, 16, 2, 128), (4, 1, 256, 2, 2, 128),
         (1, 5000, 5100, 12, 4, 104), (8, 512, 512, 16, 16, 128)]
for dtype in (torch.bfloat16, torch.float16):
    for i, (n, lq, lk, h, hk, d) in enumerate(CASES):
        run_case(K, dtype, n, lq, lk, h, hk, d, -1, -1, seed=900 + i)
    # not paired: causal, an odd number of key blocks, a window; and the deterministic backward (no dq_accum)
    run_case(K, dtype, 2, 1024, 1024, 4, 2, 128, -1, 0, seed=950)
    run_case(K, dtype, 1, 700, 300, 4, 2, 128, -1, -1, seed=951)
    run_case(K, dtype, 1, 600, 600, 4, 4, 128, 100, 50, seed=952)
    run_case(K, dtype, 1, 1024, 1024, 4, 2, 128, -1, -1, seed=953, deterministic=True)
print(f'pairs: {COUNT[0]} comparisons, {len(FAILURES)} failures, {time.time() - t0:.1f} s', flush=True)
for f in FAILURES[:20]:
    print('FAIL', f)
sys.exit(1 if FAILURES else 0)
