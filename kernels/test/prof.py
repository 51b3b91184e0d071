"""Launches for ncu: the forward at (d, l) pairs given as arguments (bf16, hidden 2048, 16k tokens, non-causal; the
Hopper kernel on a 9.0 card) and one default backward (bwd=D:L, default 128:8192). Usage: ncu ... python3 prof.py
64:8192 128:512 bwd=256:8192 (no forward pairs: 128:8192)."""
import sys

import torch

from flashk import Kernels, backward, forward

K = Kernels()
pairs = [a for a in sys.argv[1:] if not a.startswith('bwd=')]
bwd = [a[4:] for a in sys.argv[1:] if a.startswith('bwd=')] or ['128:8192']
for arg in pairs or ['128:8192']:
    d, l = map(int, arg.split(':'))
    n, h = 16384 // l, 2048 // d
    q, k, v = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(3))
    o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
    forward(K, q, k, v, d ** -0.5, -1, -1, o, lse)
d, l = map(int, bwd[0].split(':'))
n, h = 16384 // l, 2048 // d
q, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
forward(K, q, k, v, d ** -0.5, -1, -1, o, lse)
backward(K, q, k, v, o, lse, dout, d ** -0.5, -1, -1, dq, dk, dv, acc, sd)
torch.cuda.synchronize()
