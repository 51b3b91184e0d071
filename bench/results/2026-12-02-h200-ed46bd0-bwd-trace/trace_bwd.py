"""Per-block timeline of the Hopper backward (d <= 128), bench/NOTES.md BT1. Needs a build with trace-bwd-events.patch
(this folder; it applies to kernels/sm90/bwd.cuh as of ed46bd0): `git apply` it, then
`node scripts/build-kernels.mjs --only=bf16:64,bf16:128 --out=kernels/build_trace`, `git apply -R` it, and
`python3 bench/results/2026-12-02-h200-ed46bd0-bwd-trace/trace_bwd.py kernels/build_trace` on the GPU host.
Per consumer warpgroup the patch records clock64 at: 0 start, 1 K / V landed, 2 first Q / dO landed, 3 first S issued
(warpgroup 1 after its start offset), 4 last step done, 5 last dQ added, 6 dK / dV stored; and globaltimer (ns) at
the start (8) and after the final wait for the dQ reductions (9), with the SM and the step count (7)."""
import ctypes, os, statistics, sys
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'kernels', 'test'))
from flashk import Kernels, backward, forward, _cuda, check

K = Kernels(sys.argv[1])
_cuda.cuModuleGetGlobal_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p, ctypes.c_char_p]
_cuda.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
BLOCKS, SLOTS = 8192, 10


def read_trace(mod):
    ptr, size = ctypes.c_uint64(), ctypes.c_size_t()
    check(_cuda.cuModuleGetGlobal_v2(ctypes.byref(ptr), ctypes.byref(size), mod, b'_ZN7flash9015flash_bwd_traceE'), 'global')
    buf = (ctypes.c_uint64 * (BLOCKS * 2 * SLOTS))()
    check(_cuda.cuMemcpyDtoH_v2(buf, ptr.value, size.value), 'copy')
    return [[buf[(b * 2 + w) * SLOTS:(b * 2 + w + 1) * SLOTS] for w in range(2)] for b in range(BLOCKS)]


def mean(xs):
    return statistics.fmean(xs) if xs else float('nan')


names = ['kv wait', 'q wait', 'wg1 offset', 'loop', 'last dQ', 'dK/dV out']
for d, l, causal in [(64, 512, False), (64, 512, True), (64, 1024, True), (64, 2048, False), (128, 512, False), (128, 2048, False)]:
    h, n = 2048 // d, 16384 // l
    torch.manual_seed(0)
    q, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
    o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
    wl, wr = (-1, 0) if causal else (-1, -1)
    forward(K, q, k, v, d ** -0.5, wl, wr, o, lse)
    for _ in range(10):
        backward(K, q, k, v, o, lse, dout, d ** -0.5, wl, wr, dq, dk, dv, acc, sd)
    torch.cuda.synchronize()
    mod = [m for f, m in K.modules.items() if f'sm90_bf16_d{d}.' in f][0]
    tr = read_trace(mod)
    grid = (l // 128) * h * n
    blocks = [tr[b] for b in range(min(grid, BLOCKS))]
    spans = {x: [] for x in names}
    ghz, item_ns, per_step, gaps = [], [], [], []
    for blk in blocks:
        for w in range(2):
            e = blk[w]
            steps = e[7] & 0xffffffff
            if steps < 2:
                continue
            for i, x in enumerate(names):
                spans[x].append(e[i + 1] - e[i])
            per_step.append((e[4] - e[3]) / steps)
            item_ns.append(e[9] - e[8])
            ghz.append((e[6] - e[0]) / max(e[9] - e[8], 1))
    # Gaps between consecutive blocks on one SM (globaltimer): the next block's start after this block's end.
    by_sm = {}
    for blk in blocks:
        e0, e1 = blk[0], blk[1]
        by_sm.setdefault(e0[7] >> 32, []).append((min(e0[8], e1[8]), max(e0[9], e1[9]), e0[7] & 0xffffffff))
    for runs in by_sm.values():
        runs.sort()
        gaps += [b[0] - a[1] for a, b in zip(runs, runs[1:])]
    print(f'\n== d {d} l {l} {"causal" if causal else "full"}: {len(blocks)} blocks on {len(by_sm)} SMs')
    print('mean cycles per warpgroup: ' + ', '.join(f'{x} {mean(v):.0f}' for x, v in spans.items()) +
          f'; per step {mean(per_step):.0f}')
    total = sum(mean(v) for v in spans.values())
    print(f'  block (start to dK/dV out) {total:.0f} cycles: loop {mean(spans["loop"]) / total * 100:.0f}%, before it '
          f'{sum(mean(spans[x]) for x in names[:3]) / total * 100:.0f}%, after it {sum(mean(spans[x]) for x in names[4:]) / total * 100:.0f}%')
    print(f'  wall per block (start to the final dQ wait) {mean(item_ns) / 1000:.2f} us; gap to the next block on the SM '
          f'{mean(gaps) / 1000:.2f} us (median {statistics.median(gaps) / 1000 if gaps else float("nan"):.2f}); '
          f'clock64 cycles per ns (start to dK/dV out over the wall span) {mean(ghz):.2f}')
