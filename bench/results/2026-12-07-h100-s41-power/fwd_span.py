"""Probe (session 41): why the Hopper forward at d = 128 / 256 non-causal runs ~7% slower at n = 1, l = 16k than at
n = 2, l = 8k with the same tile count. Times the forward over shapes that separate tile length from the address span
a head covers, in [n, l, h, d] and in head-major memory (a [n, h, l, d] tensor seen as [n, l, h, d]).
Usage (from kernels/test): python3 fwd_span.py [ncu]"""
import ctypes
import os
import sys

import torch

sys.path.insert(0, os.getcwd())
import flashk  # noqa: E402
from flashk import Kernels, forward  # noqa: E402

sys.path.insert(0, os.path.join(os.getcwd(), '..', '..', 'bench'))
from peers import time_ms  # noqa: E402


def tensor_map_strided(t, rows, box_rows):
    n, l, heads, d = t.shape
    size = t.element_size()
    raw = ctypes.create_string_buffer(128 + 64)
    at = (ctypes.addressof(raw) + 63) // 64 * 64
    dims = (ctypes.c_uint64 * 4)(d, l, heads, n)
    sn, sl, sh, _ = t.stride()
    strides = (ctypes.c_uint64 * 3)(sl * size, sh * size, sn * size)
    box = (ctypes.c_uint32 * 4)(128 // size, box_rows, 1, 1)
    ones = (ctypes.c_uint32 * 4)(1, 1, 1, 1)
    kind = flashk.CU_TENSOR_MAP_DATA_TYPE_FLOAT32 if size == 4 else flashk.CU_TENSOR_MAP_DATA_TYPE_UINT16
    flashk.check(flashk._cuda.cuTensorMapEncodeTiled(at, kind, 4, t.data_ptr(), dims, strides, box, ones, 0,
                                                     flashk.CU_TENSOR_MAP_SWIZZLE_128B,
                                                     flashk.CU_TENSOR_MAP_L2_PROMOTION_L2_256B, 0), 'encode')
    return ctypes.string_at(at, 128)


flashk.tensor_map = tensor_map_strided


def problem(n, l, h, d, head_major):
    def make():
        if head_major:
            return torch.randn(n, h, l, d, device='cuda', dtype=torch.bfloat16).transpose(1, 2)
        return torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16)
    q, k, v = make(), make(), make()
    o = torch.empty(n, l, h, d, device='cuda', dtype=torch.bfloat16)
    lse = torch.empty(n, h, l, device='cuda')
    return lambda: forward(K, q, k, v, d ** -0.5, -1, -1, o, lse), (q, k, v, o)


K = Kernels()
SHAPES = [(2, 8192, 16, 128, False), (1, 16384, 16, 128, False), (2, 8192, 16, 128, True), (1, 16384, 16, 128, True),
          (2, 16384, 8, 128, False), (1, 8192, 32, 128, False), (1, 32768, 8, 128, False),
          (2, 8192, 8, 256, False), (1, 16384, 8, 256, False), (1, 16384, 8, 256, True)]
if len(sys.argv) > 1 and sys.argv[1] == 'ncu':
    for s in [SHAPES[0], SHAPES[1], SHAPES[3]]:
        fn, _ = problem(*s)
        fn()
    torch.cuda.synchronize()
    sys.exit(0)
runs = [problem(*s) for s in SHAPES]
# reference check of the head-major path against the standard one (same data, copied)
fn, (q, k, v, o) = runs[3]
fn()
ref = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2)[:, :, :2048], k.transpose(1, 2),
                                                       v.transpose(1, 2)).transpose(1, 2)
print('head-major max |o - sdpa| over 2048 rows:', (o[:, :2048].float() - ref.float()).abs().max().item())
times = {s: [] for s in SHAPES}
for rnd in range(3):
    for s, (fn, _) in zip(SHAPES, runs):
        times[s].append(time_ms(fn, repeats=15, warmup=3))
for s in SHAPES:
    n, l, h, d, hm = s
    flops = 4 * n * h * l * l * d
    tf = [flops / (t * 1e-3) / 1e12 for t in times[s]]
    print(f'n={n} l={l:5d} h={h:2d} d={d} {"head-major" if hm else "nlhd      "} tiles={n*h*l//128:5d}: '
          + ' '.join(f'{x:6.1f}' for x in tf) + ' TFLOP/s')
