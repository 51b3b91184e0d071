"""Per-block timeline of the d = 256 deterministic dq pass with its D computed by the producer's warps 1-2 (bench/NOTES.md
DQ6). Needs a build with dq6-trace.patch (this folder; it applies to kernels/sm90/dq_det.cuh as of the session's kept
version, and carries DQ4 / DQ5's producer D): apply it, `node scripts/build-kernels.mjs --only=bf16:256
--out=kernels/build_old/t1`, revert it, then on the GPU host `python3 <this file> kernels/build_old/t1`.
Events (clock64 of the block's SM): producer warp 1 lane 0: 0 start, 1 o loads issued, 2 Q / dO landed, 3 partial dots
done, 4 reduction done, 5 arrived on the D barrier; consumer thread 128: 8 start, 9 Q / dO landed, 10 first K / V
landed, 11 first S and dP done (the wait for D begins), 12 D seen, 13 loop done."""
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
BLOCKS, SLOTS = 4096, 16


def read_trace(mod):
    ptr, size = ctypes.c_uint64(), ctypes.c_size_t()
    check(_cuda.cuModuleGetGlobal_v2(ctypes.byref(ptr), ctypes.byref(size), mod, b'_ZN7flash9014flash_dq_traceE'),
          'global')
    buf = (ctypes.c_uint64 * (BLOCKS * SLOTS))()
    check(_cuda.cuMemcpyDtoH_v2(buf, ptr.value, size.value), 'copy')
    return [buf[b * SLOTS:(b + 1) * SLOTS] for b in range(BLOCKS)]


SPANS = [('p: o loads issued', 0, 1), ('p: wait Q/dO', 1, 2), ('p: dots (o landed)', 2, 3), ('p: reduction', 3, 4),
         ('p: stores+arrive', 4, 5), ('c: wait Q/dO', 8, 9), ('c: wait K/V 0', 9, 10), ('c: S, dP', 10, 11),
         ('c: wait for D', 11, 12), ('c: rest of loop', 12, 13), ('p start - c start', 8, 0), ('D ready - c start', 8, 5)]
for l, causal in [(512, False), (512, True), (2048, False)]:
    d, h, n = 256, 8, 16384 // l
    torch.manual_seed(0)
    q, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
    o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
    wl, wr = (-1, 0) if causal else (-1, -1)
    forward(K, q, k, v, d ** -0.5, wl, wr, o, lse)
    for _ in range(5):
        backward(K, q, k, v, o, lse, dout, d ** -0.5, wl, wr, dq, dk, dv, acc, sd, deterministic=True)
    torch.cuda.synchronize()
    mod = [m for f, m in K.modules.items() if 'sm90_bf16_d256.' in f][0]
    tr = read_trace(mod)
    grid = min((l // 64) * h * n, BLOCKS)
    print(f'd = 256, l = {l}, causal = {causal}: {grid} blocks traced; clock64 cycles, median / p90 over blocks')
    for name, a, b in SPANS:
        xs = sorted(int(tr[i][b]) - int(tr[i][a]) for i in range(grid) if tr[i][a] and tr[i][b])
        if xs:
            print(f'  {name:22s} {statistics.median(xs):9.0f} {xs[int(0.9 * (len(xs) - 1))]:9.0f}')
