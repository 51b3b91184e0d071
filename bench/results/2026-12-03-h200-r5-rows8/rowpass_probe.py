"""Probe for bench/NOTES.md R4: device time of the backward's row passes built with R rows per block
(rowpass_probe.cu, one cubin per R): bwd_pre zeroing dq_accum itself, bwd_pre's dot products alone (dq_accum = 0)
after a cuMemsetD32Async of dq_accum, bwd_dq; torch's copy_ as this card's reference rate. bf16, hidden 2048,
n * l = 16k (the bytes do not depend on l). Usage (from kernels/test): python3 rowpass_probe.py rowpass_16.cubin ..."""
import ctypes
import re
import statistics
import sys

import torch
from flashk import _cuda, check, make_params

_cuda.cuMemsetD32Async.argtypes = [ctypes.c_uint64, ctypes.c_uint, ctypes.c_size_t, ctypes.c_void_p]


def load(path):
    mod = ctypes.c_void_p()
    check(_cuda.cuModuleLoadData(ctypes.byref(mod), open(path, 'rb').read()), f'cuModuleLoadData {path}')
    return mod


def fn(mod, name):
    f = ctypes.c_void_p()
    check(_cuda.cuModuleGetFunction(ctypes.byref(f), mod, name.encode()), name)
    return f


def stream():
    return torch.cuda.current_stream().cuda_stream


def launch(f, grid, p):
    args = (ctypes.c_void_p * 1)(ctypes.addressof(p))
    check(_cuda.cuLaunchKernel(f, *grid, 128, 1, 1, 0, stream(), args, None), 'cuLaunchKernel')


def timed(run, iters=40, rounds=7):
    for _ in range(5):
        run()
    times = []
    for _ in range(rounds):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            run()
        b.record()
        torch.cuda.synchronize()
        times.append(1000 * a.elapsed_time(b) / iters)
    return statistics.median(times), min(times), max(times)


torch.zeros(1, device='cuda')
mods = [(int(re.search(r'(\d+)\.cubin$', path).group(1)), load(path)) for path in sys.argv[1:]]
# Exactness across block sizes: D from bwd_pre and dq from bwd_dq bit for bit equal to the first cubin's, at a length
# that no block size divides (509) and at 2048.
for d in (64, 128, 256):
    for l_ in (509, 2048):
        n, h = 3, 2048 // d
        o, dout = (torch.randn(n, l_, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(2))
        acc0 = torch.randn(n, l_, h, d, device='cuda')
        sd, dq, q = torch.empty(n, h, l_, device='cuda'), torch.empty_like(o), torch.empty_like(o)
        outs = []
        for rows, mod in mods:
            acc = acc0.clone()
            p = make_params(q, q, q, d ** -0.5, -1, -1, o=o, dout=dout, dq=dq, dq_accum=acc, softmax_d=sd)
            sd.fill_(float('nan'))
            dq.fill_(float('nan'))
            grid = ((l_ + rows - 1) // rows, h, n)
            launch(fn(mod, f'probe_dq_d{d}'), grid, p)
            launch(fn(mod, f'probe_pre_d{d}'), grid, p)
            torch.cuda.synchronize()
            outs.append((rows, sd.clone(), dq.clone(), acc.abs().max().item()))
        for rows, d_, q_, z in outs[1:]:
            same = torch.equal(d_, outs[0][1]) and torch.equal(q_.view(torch.int16), outs[0][2].view(torch.int16))
            print(f'exact d={d} l={l_} rows={rows} vs rows={outs[0][0]}: D and dq bitwise equal {same}, '
                  f'dq_accum zeroed {z == 0}, D finite {bool(torch.isfinite(d_).all())}')
        del o, dout, acc, acc0, sd, dq, q

l = 2048
for d in (64, 128, 256):
    n, h = 16384 // l, 2048 // d
    o, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(2))
    acc, acc2 = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, l, h, d, device='cuda')
    sd, dq, q = torch.empty(n, h, l, device='cuda'), torch.empty_like(o), torch.empty_like(o)
    p = make_params(q, q, q, d ** -0.5, -1, -1, o=o, dout=dout, dq=dq, dq_accum=acc, softmax_d=sd)
    dots = make_params(q, q, q, d ** -0.5, -1, -1, o=o, dout=dout, dq=dq, softmax_d=sd)
    elems = n * l * h * d
    memset = lambda: check(_cuda.cuMemsetD32Async(acc.data_ptr(), 0, elems, stream()), 'cuMemsetD32Async')
    ref = None
    for rows, mod in mods:
        grid = ((l + rows - 1) // rows, h, n)
        pre, dqf = fn(mod, f'probe_pre_d{d}'), fn(mod, f'probe_dq_d{d}')
        # Both forms give the same D and a zeroed dq_accum.
        acc.fill_(1.0)
        launch(pre, grid, p)
        torch.cuda.synchronize()
        assert acc.abs().max().item() == 0, 'bwd_pre zeroes dq_accum'
        ref = sd.clone() if ref is None else ref
        assert torch.equal(sd, ref), 'D does not depend on the block size'
        acc.fill_(1.0)
        sd.fill_(float('nan'))
        memset()
        launch(pre, grid, dots)
        torch.cuda.synchronize()
        assert acc.abs().max().item() == 0 and torch.equal(sd, ref), 'memset + dot products'
        cases = {
            'bwd_pre': (lambda: launch(pre, grid, p), 2 * elems * 2 + elems * 4),
            'memset': (memset, elems * 4),
            'dots (dq_accum 0)': (lambda: launch(pre, grid, dots), 2 * elems * 2),
            'memset + dots': (lambda: (memset(), launch(pre, grid, dots)), 2 * elems * 2 + elems * 4),
            'bwd_dq': (lambda: launch(dqf, grid, p), elems * 4 + elems * 2),
        }
        for name, (run, nbytes) in cases.items():
            med, lo, hi = timed(run)
            print(f'd={d} rows={rows:3d} {name:18s} {med:7.1f} us (min {lo:6.1f} max {hi:6.1f})  '
                  f'{nbytes / med / 1e6:5.2f} TB/s')
    med, lo, hi = timed(lambda: acc2.copy_(acc))
    print(f'd={d} torch copy_ fp32 {med:7.1f} us  {2 * elems * 4 / med / 1e6:5.2f} TB/s')
    del o, dout, acc, acc2, sd, dq, q
