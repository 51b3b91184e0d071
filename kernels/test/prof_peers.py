"""Launches for ncu, ours beside cuDNN's: our Hopper forward and backward (d = 128, bf16, n * l = 16k, non-causal) and
SDPA's cuDNN forward and backward, once each at l = 512 and 8192. Usage (from kernels/test):
  ncu --section LaunchStats --section SpeedOfLight -k regex:"fwd90|bwd90|sdpa" python3 prof_peers.py
  ncu --section WarpStateStats --section SourceCounters -k regex:bwd90 --launch-skip 1 -c 1 -o bwd8k python3 prof_peers.py
(then ncu --import bwd8k.ncu-rep --page source --csv --print-source sass: stall samples per instruction)."""
import torch
from torch.nn.attention import sdpa_kernel, SDPBackend
from flashk import Kernels, backward, forward

K = Kernels()
d = 128
for l in (512, 8192):
    n, h = 16384 // l, 2048 // d
    q, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
    o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
    forward(K, q, k, v, d ** -0.5, -1, -1, o, lse)
    backward(K, q, k, v, o, lse, dout, d ** -0.5, -1, -1, dq, dk, dv, acc, sd)
    qt, kt, vt = (x.transpose(1, 2).detach().requires_grad_() for x in (q, k, v))
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        out = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt)
        torch.autograd.grad(out, (qt, kt, vt), dout.transpose(1, 2))
    torch.cuda.synchronize()
