"""Launches for ncu: the forward at (d, l) pairs given as arguments, D:L or D:L:causal (bf16, hidden 2048, 16k tokens,
non-causal unless ':causal' follows; the Hopper kernel on a 9.0 card) and one default backward (bwd=D:L, default
128:8192), or with det=D:L one deterministic causal backward instead (its dq pass: bwd_dq_det90 on Hopper).
Usage: ncu ... python3 prof.py 64:8192 128:512:causal bwd=256:8192 (no forward pairs: 128:8192)."""
import sys

import torch

from flashk import Kernels, backward, grid_problem

K = Kernels()
pairs = [a for a in sys.argv[1:] if not a.startswith(('bwd=', 'det='))]
bwd = [a[4:] for a in sys.argv[1:] if a.startswith('bwd=')] or ['128:8192']
det = [a[4:] for a in sys.argv[1:] if a.startswith('det=')]
for arg in pairs or ([] if det else ['128:8192']):
    d, l, *mask = arg.split(':')
    if mask not in ([], ['causal']):
        sys.exit(f'prof.py: expected D:L or D:L:causal, got {arg}')
    grid_problem(K, int(d), int(l), 0 if mask else -1)
if det:
    d, l = map(int, det[0].split(':'))
    t = grid_problem(K, d, l, 0)
    backward(K, t.q, t.k, t.v, t.o, t.lse, t.dout, d ** -0.5, -1, 0, t.dq, t.dk, t.dv, t.acc, t.sd, deterministic=True)
else:
    grid_problem(K, *map(int, bwd[0].split(':'))).run_backward()
torch.cuda.synchronize()
