"""Timeline of bwd_pre_side beside the Hopper backward at d = 128 (bench/NOTES.md P2g): why the side path loses at long
rows. Needs a build with trace.patch (this folder; on top of the P2f tree): apply it, `node scripts/build-kernels.mjs
--only=bf16:128 --out=kernels/build/trace`, revert it; then on the GPU host `python3 <this file> kernels/build/trace`.
globaltimer (ns) per block: side blocks' start / end / chunks / SM; the Hopper bwd's blocks' entry, barriers done,
summed ready-flag waits (its row lane 0), first wait done, consumers' loop end, SM, waits over 2 us."""
import ctypes
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'kernels', 'test'))
from flashk import Kernels, _cuda, backward, check, forward  # noqa: E402

K = Kernels(sys.argv[1])
_cuda.cuModuleGetGlobal_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p,
                                       ctypes.c_char_p]
_cuda.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
_cuda.cuMemsetD8_v2.argtypes = [ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_size_t]


def glob(file_part, name):
    mod = [m for f, m in K.modules.items() if file_part in f][0]
    ptr, size = ctypes.c_uint64(), ctypes.c_size_t()
    check(_cuda.cuModuleGetGlobal_v2(ctypes.byref(ptr), ctypes.byref(size), mod, name), 'global')
    return ptr.value, size.value


def read(g, slots):
    ptr, size = g
    buf = (ctypes.c_uint64 * (size // 8))()
    check(_cuda.cuMemcpyDtoH_v2(buf, ptr, size), 'copy')
    return [list(buf[b * slots:(b + 1) * slots]) for b in range(size // 8 // slots)]


def q(xs):
    xs = sorted(xs)
    if not xs:
        return '-'
    return '/'.join(f'{xs[int(f * (len(xs) - 1))]:.1f}' for f in (0, 0.25, 0.5, 0.75, 1))


for l, causal in [(8192, True), (4096, False), (2048, True), (512, True)]:
    d, h, n = 128, 16, 16384 // l
    torch.manual_seed(0)
    qt, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
    o, lse = torch.empty_like(qt), torch.empty(n, h, l, device='cuda')
    dq, dk, dv = torch.empty_like(qt), torch.empty_like(k), torch.empty_like(v)
    acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
    wl, wr = (-1, 0) if causal else (-1, -1)
    forward(K, qt, k, v, d ** -0.5, wl, wr, o, lse)
    run = lambda: backward(K, qt, k, v, o, lse, dout, d ** -0.5, wl, wr, dq, dk, dv, acc, sd)  # noqa: E731
    os.environ['FLASH_SIDE_PRE'] = '1'
    run()
    torch.cuda.synchronize()
    side_g = glob('sm80_bf16_d128.', b'_ZN5flash16flash_side_traceE')
    bwd_g = glob('sm90_bf16_d128.', b'_ZN7flash9015flash_bwd_traceE')
    print(f'== d {d} l {l} {"causal" if causal else "full"} n {n} h {h}')
    for mode in ('1', '0'):
        os.environ['FLASH_SIDE_PRE'] = mode
        for _ in range(3):
            run()
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
        times = []
        for _ in range(15):
            ev[0].record()
            run()
            ev[1].record()
            torch.cuda.synchronize()
            times.append(ev[0].elapsed_time(ev[1]) * 1000)
        for g in (side_g, bwd_g):
            _cuda.cuMemsetD8_v2(g[0], 0, g[1])
        torch.cuda.synchronize()
        run()
        torch.cuda.synchronize()
        side = [r for r in read(side_g, 4) if r[0]]
        main = [r for r in read(bwd_g, 8) if r[0]]
        t0 = min([r[0] for r in side] + [r[0] for r in main])
        us = lambda t: (t - t0) / 1000  # noqa: E731
        print(f'  side path {"on " if mode == "1" else "off"}: backward median {statistics.median(times):.1f} us')
        if side:
            sms = {r[3] for r in side}
            print(f'    side grid: {len(side)} blocks on {len(sms)} SMs, start {q([us(r[0]) for r in side])}, '
                  f'end {q([us(r[1]) for r in side])} us, chunks {sum(r[2] for r in side)}')
            on_side = [r for r in main if r[5] in sms]
            print(f'    bwd blocks on side SMs: {len(on_side)}, their start {q([us(r[0]) for r in on_side])} us')
        print(f'    bwd: {len(main)} blocks, start {q([us(r[0]) for r in main])}, barriers done '
              f'{q([us(r[1]) for r in main])}, consumers end {q([us(r[4]) for r in main])} us')
        if mode == '1':
            print(f'    bwd ready waits: sum per block {q([r[2] / 1000 for r in main])} us, first wait done '
                  f'{q([us(r[3]) for r in main if r[3]])} us, waits over 2 us per block {q([r[6] for r in main])}')
