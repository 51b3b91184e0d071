"""Prepared for the next session, not run: a globaltimer trace of Z1's clearing (bench/NOTES.md Z1).
Apply z1-trace.patch on 170bec2 (Z1's fourth version plus the trace: kernels/sm90/bwd_clear.cuh defines Z1_TRACE),
build (node scripts/build-kernels.mjs; the d = 128 trace build is spill-free, d = 64 and 256 spill 36-52 bytes in
the producer warpgroup), then from kernels/test: python3 ../../bench/results/2026-12-03-h200-s23-z1-clear/z1_trace.py
[d] [l] [causal 0|1]. Prints, for one backward of the standard grid's shape: the blocks' span, each unit's clearing
time (window open -> counted) and wait for the window, the row lanes' waits, and how long the clearing outlasted the
items (the model in NOTES: units of ~30 us and a backlog at the end)."""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.getcwd())
from flashk import Kernels, backward, forward  # noqa: E402

WAITS, BLOCK_SLOTS = 65536, 1024


def main():
    d = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    l = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    causal = len(sys.argv) > 3 and sys.argv[3] == '1'
    n, h = 16384 // l, 2048 // d
    rows = max(1, 65536 // (d * 4))
    units = n * h * math.ceil(l / rows)
    words64 = 4 * units + 1 + 4 * WAITS + 4 * BLOCK_SLOTS
    os.environ['Z1_TRACE_WORDS'] = str(2 * words64 + 2)
    K = Kernels()
    torch.manual_seed(0)
    q, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
    wr = 0 if causal else -1
    o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
    forward(K, q, k, v, d ** -0.5, -1, wr, o, lse)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
    for _ in range(3):  # the last call's trace is read
        backward(K, q, k, v, o, lse, dout, d ** -0.5, -1, wr, dq, dk, dv, acc, sd)
    torch.cuda.synchronize()
    raw = K.last_ready.cpu().numpy().tobytes()
    at = (4 * (2 + n * h) + 7) // 8 * 8
    t = np.frombuffer(raw, dtype=np.uint64, offset=at, count=words64)
    u = t[:4 * units].reshape(units, 4).astype(np.int64)
    w_count = int(t[4 * units])
    w = t[4 * units + 1:4 * units + 1 + 4 * WAITS].reshape(WAITS, 4)[:min(w_count, WAITS)].astype(np.int64)
    b = t[4 * units + 1 + 4 * WAITS:].reshape(BLOCK_SLOTS, 4).astype(np.int64)
    b = b[b[:, 0] > 0]
    t0 = b[:, 0].min()
    us = lambda x: x / 1000.0  # noqa: E731
    pct = lambda x: ' / '.join(f'{us(np.percentile(x, q)):.1f}' for q in (10, 50, 90, 99))  # noqa: E731
    print(f'd = {d}, l = {l}, causal = {causal}: n = {n}, h = {h}, {units} units of {rows} rows, {len(b)} blocks')
    print(f'blocks: start spread {us(b[:, 0].max() - t0):.1f} us; items done at {us(b[:, 1].min() - t0):.1f}..'
          f'{us(b[:, 1].max() - t0):.1f} us; clearing done at {us(b[:, 2].min() - t0):.1f}..{us(b[:, 2].max() - t0):.1f} us')
    print(f'units: clearing (window open -> counted) p10 / 50 / 90 / 99 {pct(u[:, 2] - u[:, 1])} us; '
          f'waiting for the window {pct(u[:, 1] - u[:, 0])} us')
    done = np.sort(u[:, 2] - t0)
    print(f'units counted by 25 / 50 / 75 / 100% of the items\' span: ' + ' / '.join(
        str(int(np.searchsorted(done, f * (b[:, 1].max() - t0)))) for f in (0.25, 0.5, 0.75, 1.0)) + f' of {units}')
    if len(w):
        waits = w[:, 2] - w[:, 1]
        print(f'row-lane waits: {w_count} checks, {int((waits > 1000).sum())} over 1 us, total {us(waits.sum()):.0f} us, '
              f'p50 / 90 / 99 / max {us(np.percentile(waits, 50)):.1f} / {us(np.percentile(waits, 90)):.1f} / '
              f'{us(np.percentile(waits, 99)):.1f} / {us(waits.max()):.1f} us')


if __name__ == '__main__':
    main()
