"""Per-kernel device time of our backward (bwd_pre, bwd, bwd_dq; launched by flashk) beside SDPA's FlashAttention-2 and
cuDNN backwards, from the PyTorch profiler: bf16, hidden 2048, n * l = 16k, d = 64 / 128 / 256, l = 512 .. 8192, causal
and not. "idle" is the span of each iteration's kernels minus their sum (for ours it includes this harness's Python
launch path). Usage (from kernels/test): python3 phases.py [--det [--dims 128,256] [--lengths 512,2048]]
--det: our default backward beside our deterministic one (bwd_pre, bwd without dQ, bwd_dq_det), no peers."""
import sys

import torch
from torch.profiler import profile, ProfilerActivity
from torch.nn.attention import sdpa_kernel, SDPBackend
from flashk import Kernels, backward, grid_problem

K = Kernels()
ITERS = 10


def prof(fn, label):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as pr:
        for _ in range(ITERS):
            fn()
        torch.cuda.synchronize()
    rows = []
    for e in pr.key_averages():
        t = getattr(e, 'device_time_total', None) or getattr(e, 'cuda_time_total', 0)
        if t > 0 and e.count >= ITERS:
            rows.append((t / ITERS, e.count // ITERS, e.key[:70]))
    rows.sort(reverse=True)
    tot = sum(r[0] for r in rows)
    kern = sorted((e.time_range.start, e.time_range.end) for e in pr.events() if e.device_type.name == 'CUDA')
    span = (kern[-1][1] - kern[0][0]) / ITERS if kern else 0
    busy = sum(b - a for a, b in kern) / ITERS
    print(f'{label}: total {tot:8.1f} us/iter, span {span:8.1f} us/iter, kernels {len(kern) // ITERS}/iter, '
          f'idle {span - busy:6.1f} us/iter')
    for t, c, k in rows[:6]:
        print(f'    {t:8.1f} us x{c} {100*t/tot:5.1f}%  {k}')


def option(name, default):
    return [int(x) for x in sys.argv[sys.argv.index(name) + 1].split(',')] if name in sys.argv else default


DET = '--det' in sys.argv
for d in option('--dims', [64, 128, 256]):
    for l in option('--lengths', [512, 1024, 2048, 8192]):
        for causal in (False, True):
            wr = 0 if causal else -1
            t = grid_problem(K, d, l, wr)
            tag = f'd{d} l{l} {"causal" if causal else "full"}'
            prof(t.run_backward, f'ours   {tag}')
            if DET:
                prof(lambda: backward(K, t.q, t.k, t.v, t.o, t.lse, t.dout, d ** -0.5, -1, wr, t.dq, t.dk, t.dv, t.acc,
                                      t.sd, deterministic=True), f'det    {tag}')
                del t
                continue
            qt, kt, vt = (x.transpose(1, 2).detach().requires_grad_() for x in (t.q, t.k, t.v))
            for name, be in (('flash', SDPBackend.FLASH_ATTENTION), ('cudnn', SDPBackend.CUDNN_ATTENTION)):
                try:
                    with sdpa_kernel(be):
                        out = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
                        g = t.dout.transpose(1, 2)
                        prof(lambda: torch.autograd.grad(out, (qt, kt, vt), g, retain_graph=True), f'{name:6s} {tag}')
                except Exception as e:
                    print(f'{name} {tag}: {e}'[:200])
            del t, qt, kt, vt
