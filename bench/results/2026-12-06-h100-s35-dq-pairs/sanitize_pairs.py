"""Session 35: paired Hopper backward launches (no mask, even key blocks) for compute-sanitizer's racecheck and
synccheck. Run from kernels/test with FLASH_BUILD set. Usage: compute-sanitizer --tool racecheck python3 sanitize_pairs.py"""
import os
import sys

import torch

sys.path.insert(0, os.getcwd())
from flashk import Kernels, backward, forward  # noqa: E402

K = Kernels()
for (n, lq, lk, h, hk, d) in ((1, 200, 256, 2, 1, 128), (2, 2200, 2200, 8, 4, 128), (1, 300, 500, 4, 2, 96)):
    q = torch.randn(n, lq, h, d, device='cuda').to(torch.bfloat16)
    k = torch.randn(n, lk, hk, d, device='cuda').to(torch.bfloat16)
    v = torch.randn(n, lk, hk, d, device='cuda').to(torch.bfloat16)
    dout = torch.randn(n, lq, h, d, device='cuda').to(torch.bfloat16)
    o, lse = torch.zeros_like(q), torch.zeros(n, h, lq, device='cuda')
    forward(K, q, k, v, d ** -0.5, -1, -1, o, lse)
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    acc, sd = torch.zeros(n, lq, h, d, device='cuda'), torch.zeros(n, h, lq, device='cuda')
    backward(K, q, k, v, o, lse, dout, d ** -0.5, -1, -1, dq, dk, dv, acc, sd)
torch.cuda.synchronize()
print('sanitize_pairs: done')
