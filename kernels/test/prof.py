"""One forward and one backward launch (bf16, d=128, n*l=16384 tokens, l=8192) for ncu to profile."""
import torch

from flashk import Kernels, backward, forward

K = Kernels()
n, l, h, d = 2, 8192, 16, 128
q, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
forward(K, q, k, v, d ** -0.5, -1, -1, o, lse)
backward(K, q, k, v, o, lse, dout, d ** -0.5, -1, -1, dq, dk, dv, acc, sd)
torch.cuda.synchronize()
