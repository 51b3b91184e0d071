"""Launches for ncu: the forward at (d, l) pairs given as arguments (bf16, hidden 2048, 16k tokens, non-causal; the
Hopper kernel on a 9.0 card) and one default backward (bwd=D:L, default 128:8192). Usage: ncu ... python3 prof.py
64:8192 128:512 bwd=256:8192 (no forward pairs: 128:8192)."""
import sys

import torch

from flashk import Kernels, grid_problem

K = Kernels()
pairs = [a for a in sys.argv[1:] if not a.startswith('bwd=')]
bwd = [a[4:] for a in sys.argv[1:] if a.startswith('bwd=')] or ['128:8192']
for arg in pairs or ['128:8192']:
    grid_problem(K, *map(int, arg.split(':')))
grid_problem(K, *map(int, bwd[0].split(':'))).run_backward()
torch.cuda.synchronize()
