"""Per-item timeline of the Hopper d = 256 backward (bench/NOTES.md BT2). Needs a build with trace-wide.patch applied to
1ccd96e's kernels/sm90/bwd_wide.cuh (or trace-wide-2.patch on top of bulk-copies.patch, with TRACE_SLOTS=16 for the
epilogue's parts), compiled by hand (`nvcc -std=c++17 -O3 -I../common -gencode arch=compute_90a,code=sm_90a --fatbin
-DFLASH_DTYPE=bf16 -DFLASH_HEAD_DIM=256 -o ../build_trace/flash_sm90_bf16_d256.fatbin flash_sm90.cu` in kernels/sm90,
beside a copy of a d = 256 build's manifest and sm_80 fatbins): the patches spill 4 bytes, which build-kernels.mjs
refuses. Per item and consumer warpgroup, clock64 at: 0 item start, 1 K / V landed, 2 first Q / dO landed, 3 last step
done, 4 epilogue start (dQ stages read), 5 dK / dV stored; 6 the item's steps ("slot wait", from the previous item's
event 5 to this one's event 0, includes the trace's own global load of its item count).
Usage (from kernels/test): python3 ../../bench/results/2026-12-02-h200-wide-epilogue/trace_wide.py ../build_trace"""
import ctypes, os, statistics, sys
import torch
sys.path.insert(0, os.getcwd())
from flashk import Kernels, backward, forward, _cuda, check

K = Kernels(sys.argv[1])
_cuda.cuModuleGetGlobal_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p, ctypes.c_char_p]
_cuda.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
_cuda.cuMemsetD8_v2.argtypes = [ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_size_t]
BLOCKS, ITEMS, SLOTS = 132, 64, int(os.environ.get('TRACE_SLOTS', '8'))


def glob(mod, name):
    ptr, size = ctypes.c_uint64(), ctypes.c_size_t()
    check(_cuda.cuModuleGetGlobal_v2(ctypes.byref(ptr), ctypes.byref(size), mod, name), 'global')
    return ptr.value, size.value


# With trace-wide-2.patch: the epilogue's parts, per tensor (dV from 7, dK from 11): its read wait, first barrier,
# staging, second barrier; then the copies' issue.
SUB = [('dv read wait', 4, 7), ('dv sync1', 7, 8), ('dv stage', 8, 9), ('dv sync2', 9, 10),
       ('dv issue + dk read wait', 10, 11), ('dk sync1', 11, 12), ('dk stage', 12, 13), ('dk sync2', 13, 14),
       ('dk issue', 14, 5)]


def mean(xs):
    return statistics.fmean(xs) if xs else float('nan')


for l, causal in [(512, False), (512, True), (1024, True), (2048, False), (16384, False)]:
    d = 256
    h, n = 2048 // d, 16384 // l
    torch.manual_seed(0)
    q, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
    o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
    wl, wr = (-1, 0) if causal else (-1, -1)
    forward(K, q, k, v, d ** -0.5, wl, wr, o, lse)
    for _ in range(5):
        backward(K, q, k, v, o, lse, dout, d ** -0.5, wl, wr, dq, dk, dv, acc, sd)
    torch.cuda.synchronize()
    mod = [m for f, m in K.modules.items() if 'sm90_bf16_d256.' in f][0]
    tptr, tsize = glob(mod, b'_ZN7flash9020flash_bwd_wide_traceE')
    kptr, ksize = glob(mod, b'_ZN7flash9022flash_bwd_wide_trace_kE')
    check(_cuda.cuMemsetD8_v2(tptr, 0, tsize), 'memset')
    check(_cuda.cuMemsetD8_v2(kptr, 0, ksize), 'memset')
    torch.cuda.synchronize()
    backward(K, q, k, v, o, lse, dout, d ** -0.5, wl, wr, dq, dk, dv, acc, sd)
    torch.cuda.synchronize()
    buf = (ctypes.c_uint64 * (BLOCKS * ITEMS * 2 * SLOTS))()
    check(_cuda.cuMemcpyDtoH_v2(buf, tptr, tsize), 'copy')
    at = lambda b, k, w, e: buf[((b * ITEMS + k) * 2 + w) * SLOTS + e]
    spans = {x: [] for x in ['slot wait', 'kv wait', 'q wait', 'steps', 'dq drain', 'epilogue']}
    per_step, items, block_span, busy, sub = [], 0, [], [], {}
    for b in range(BLOCKS):
        for w in range(2):
            prev_end, first, last = None, None, None
            for k in range(ITEMS):
                e = [at(b, k, w, i) for i in range(SLOTS)]
                if e[5] == 0:
                    break
                steps = e[6]
                if steps == 0:
                    continue
                items += w == 0
                if prev_end is not None:
                    spans['slot wait'].append(e[0] - prev_end)
                spans['kv wait'].append(e[1] - e[0])
                spans['q wait'].append(e[2] - e[1])
                spans['steps'].append(e[3] - e[2])
                spans['dq drain'].append(e[4] - e[3])
                spans['epilogue'].append(e[5] - e[4])
                per_step.append((e[3] - e[2]) / steps)
                if SLOTS > 8:
                    for name, x, y in SUB:
                        sub.setdefault(name, []).append(e[y] - e[x])
                prev_end = e[5]
                first = e[0] if first is None else first
                last = e[5]
            if first is not None:
                block_span.append(last - first)
    total = sum(sum(v) for v in spans.values())
    print(f'\n== d 256 l {l} {"causal" if causal else "full"}: {items} items traced on {BLOCKS} blocks; block span mean '
          f'{mean(block_span):.0f} cycles (max {max(block_span) if block_span else 0})')
    print('  mean cycles per item and warpgroup: ' + ', '.join(f'{x} {mean(v):.0f}' for x, v in spans.items()) +
          f'; per step {mean(per_step):.0f}')
    if sub:
        print('  epilogue parts: ' + ', '.join(f'{x} {mean(v):.0f}' for x, v in sub.items()))
    print('  share of the traced time: ' + ', '.join(f'{x} {sum(v) / total * 100:.1f}%' for x, v in spans.items()))
