"""Per-item timeline of the persistent Hopper backward (bench/NOTES.md IT1). Needs a build with item-trace.patch (this
folder; it applies to 3594c7b; d = 64 is left out: there it spilled 8 bytes): in a worktree, `git apply` it, then
`node scripts/build-kernels.mjs --only=bf16:128,bf16:256 --out=<main>/kernels/build/trace`; on the GPU host,
from kernels/test: `python3 <this file> ../build/trace`.
Per block (< 160), item ordinal (< 128) and consumer warpgroup the patch records clock64 at: 1 slot
read (0 unused: recording it spilled at d = 256), 2 K / V landed, 3 first Q / dO landed, 4 loop done, 5 last dQ done, 6 item done (dK / dV stored); 2..5 only in
bwd.cuh's consumer (d <= 128). Header: globaltimer and clock64 at the block's start and end, its SM, its item count.
Prints, per problem: the kernel's span, how long blocks sit idle at the end (the tail), and per item the mean cycles
of each part, by step count."""
import ctypes, os, statistics, sys
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'kernels', 'test'))
from flashk import Kernels, grid_problem, _cuda, check

K = Kernels(sys.argv[1])
_cuda.cuModuleGetGlobal_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_size_t),
                                       ctypes.c_void_p, ctypes.c_char_p]
_cuda.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
_cuda.cuMemsetD8_v2.argtypes = [ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_size_t]
BLOCKS, ITEMS, EV, HDR = 160, 128, 8, 6
TRACE, HEADER = b'_ZN7flash9016flash_item_traceE', b'_ZN7flash9014flash_item_hdrE'


def symbol(mod, name):
    ptr, size = ctypes.c_uint64(), ctypes.c_size_t()
    check(_cuda.cuModuleGetGlobal_v2(ctypes.byref(ptr), ctypes.byref(size), mod, name), 'global')
    return ptr.value, size.value


def read(mod, name, count):
    ptr, size = symbol(mod, name)
    buf = (ctypes.c_uint64 * count)()
    check(_cuda.cuMemcpyDtoH_v2(buf, ptr, size), 'copy')
    return list(buf)


def zero(mod, name):
    ptr, size = symbol(mod, name)
    check(_cuda.cuMemsetD8_v2(ptr, 0, size), 'memset')


def mean(xs):
    return statistics.fmean(xs) if xs else float('nan')


PARTS = [('kv', 1, 2), ('q', 2, 3), ('loop', 3, 4), ('lastdq', 4, 5), ('out', 5, 6)]
problems = [(128, 512, 0), (128, 512, -1), (128, 2048, 0), (256, 512, 0), (256, 512, -1)]
if len(sys.argv) > 2:
    problems = [tuple(int(x) for x in s.split(':')) for s in sys.argv[2].split(',')]
for d, l, wr in problems:
    torch.manual_seed(0)
    t = grid_problem(K, d, l, wr)
    for _ in range(5):
        t.run_backward()
    torch.cuda.synchronize()
    mod = [m for f, m in K.modules.items() if f'sm90_bf16_d{d}.' in f][0]
    zero(mod, TRACE)
    zero(mod, HEADER)
    t.run_backward()
    torch.cuda.synchronize()
    tr, hd = read(mod, TRACE, BLOCKS * ITEMS * 2 * EV), read(mod, HEADER, BLOCKS * 2 * HDR)
    blocks = []
    for b in range(BLOCKS):
        h = hd[b * 2 * HDR:(b * 2 + 1) * HDR]  # warpgroup 0's header
        if h[0] == 0:
            continue
        blocks.append((b, h))
    g0 = min(h[0] for _, h in blocks)
    g1 = max(h[2] for _, h in blocks)
    span = g1 - g0
    ends = [h[2] for _, h in blocks]
    starts = [h[0] - g0 for _, h in blocks]
    ghz = mean([(h[3] - h[1]) / max(h[2] - h[0], 1) for _, h in blocks])
    tail = mean([g1 - e for e in ends])
    name = f'd {d} l {l} {"causal" if wr == 0 else "full"}'
    print(f'\n== {name}: {len(blocks)} blocks, items per block {mean([h[5] for _, h in blocks]):.1f} '
          f'(min {min(h[5] for _, h in blocks)}, max {max(h[5] for _, h in blocks)}); span {span / 1000:.1f} us '
          f'(first event to last); start spread {max(starts) / 1000:.2f} us; tail (mean idle after a block ends) '
          f'{tail / 1000:.1f} us = {100 * tail / span:.1f}%; {ghz:.2f} cycles/ns')
    by_steps = {}
    busy_loop, busy_all = 0, 0
    for b, h in blocks:
        n_items = h[5]
        for w in range(2):
            for k in range(min(n_items, ITEMS)):
                e = tr[((b * ITEMS + k) * 2 + w) * EV:((b * ITEMS + k) * 2 + w + 1) * EV]
                steps = e[7] >> 32
                rec = by_steps.setdefault(steps, {p[0]: [] for p in PARTS} | {'item': [], 'gap': []})
                rec['item'].append(e[6] - e[1])
                busy_all += e[6] - e[1]
                if d <= 128:
                    for part, a, z in PARTS:
                        rec[part].append(e[z] - e[a])
                    busy_loop += e[4] - e[3]
                if k + 1 < min(n_items, ITEMS):
                    nxt = tr[((b * ITEMS + k + 1) * 2 + w) * EV + 1]
                    rec['gap'].append(nxt - e[6])
    if d <= 128:
        print(f'  loop share of item time (slot read to dK / dV stored): {100 * busy_loop / max(busy_all, 1):.1f}%')
    for steps in sorted(by_steps):
        rec = by_steps[steps]
        parts = ', '.join(f'{p} {mean(rec[p]):.0f}' for p, _, _ in PARTS if rec[p])
        per_step = mean(rec['loop']) / steps if steps and rec['loop'] else float('nan')
        print(f'  {steps:3d} steps x{len(rec["item"]) // 2:5d} items: item {mean(rec["item"]):.0f} cycles '
              f'({mean(rec["item"]) / ghz / 1000:.2f} us); {parts}; per step {per_step:.0f}; to next item '
              f'{mean(rec["gap"]):.0f}')
