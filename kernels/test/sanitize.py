"""Small launches of every phase for compute-sanitizer (no reference math, so the tool sees only our kernels
and a few torch fills). Usage: compute-sanitizer --tool memcheck python3 sanitize.py [head dims...]"""
import sys

import torch

from flashk import Kernels, backward, forward

K = Kernels()
dims = [int(x) for x in sys.argv[1:]] or [32, 59, 64, 96, 128, 160, 192, 224, 256]
# (n, lq, lk, h, hk, window left, right); the last two launch more backward items than an H100 has multiprocessors,
# the one before last under a paced bwd_pre_side at d = 64 / 128 / 256 (flashk.py paced_side_blocks: causal, lq, lk <= 512).
SHAPES = ((1, 70, 90, 4, 2, -1, 0), (1, 90, 70, 4, 2, 5, 9), (4, 512, 512, 16, 16, -1, 0), (2, 2200, 2200, 8, 4, -1, 0))
for dtype in (torch.bfloat16,):
    for d in dims:
        for (n, lq, lk, h, hk, wl, wr) in SHAPES:
            q = torch.randn(n, lq, h, d, device='cuda').to(dtype)
            k = torch.randn(n, lk, hk, d, device='cuda').to(dtype)
            v = torch.randn(n, lk, hk, d, device='cuda').to(dtype)
            dout = torch.randn(n, lq, h, d, device='cuda').to(dtype)
            o = torch.zeros_like(q)
            lse = torch.zeros(n, h, lq, device='cuda')
            forward(K, q, k, v, d ** -0.5, wl, wr, o, lse)
            dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
            acc = torch.zeros(n, lq, h, d, device='cuda')
            sd = torch.zeros(n, h, lq, device='cuda')
            backward(K, q, k, v, o, lse, dout, d ** -0.5, wl, wr, dq, dk, dv, acc, sd)
            backward(K, q, k, v, o, lse, dout, d ** -0.5, wl, wr, dq, dk, dv, acc, sd, deterministic=True)
torch.cuda.synchronize()
print('sanitize: launched', len(dims) * len(SHAPES) * 7, 'kernels')
