"""One default backward for ncu (bf16, hidden 2048, n * l = 16k): python3 prof_bwd.py D L causal|full, run from
kernels/test (flashk's grid_problem; bwd_pre_side, the Hopper bwd and bwd_dq as the package launches them)."""
import os
import sys

import torch

sys.path.insert(0, os.getcwd())  # kernels/test

from flashk import Kernels, grid_problem

d, l, mask = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
grid_problem(Kernels(), d, l, 0 if mask == 'causal' else -1).run_backward()
torch.cuda.synchronize()
