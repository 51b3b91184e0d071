"""Launches for ncu, ours beside cuDNN's: our Hopper forward and backward (d = 128, bf16, n * l = 16k, non-causal) and
SDPA's cuDNN forward and backward, once each at l = 512 and 8192. Usage (from kernels/test):
  ncu --section LaunchStats --section SpeedOfLight -k regex:"fwd90|bwd90|sdpa" python3 prof_peers.py
  ncu --section WarpStateStats --section SourceCounters -k regex:bwd90 --launch-skip 1 -c 1 -o bwd8k python3 prof_peers.py
(then ncu --import bwd8k.ncu-rep --page source --csv --print-source sass: stall samples per instruction)."""
import torch
from torch.nn.attention import sdpa_kernel, SDPBackend
from flashk import Kernels, grid_problem

K = Kernels()
d = 128
for l in (512, 8192):
    t = grid_problem(K, d, l)
    t.run_backward()
    qt, kt, vt = (x.transpose(1, 2).detach().requires_grad_() for x in (t.q, t.k, t.v))
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        out = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt)
        torch.autograd.grad(out, (qt, kt, vt), t.dout.transpose(1, 2))
    torch.cuda.synchronize()
