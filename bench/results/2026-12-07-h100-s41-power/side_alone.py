"""Probe (session 41): bwd_pre_side alone, unpaced, with no main kernel beside it, on 12 / 16 / 24 / 44 blocks, at the
causal 512 problems of the grid: how long it takes to compute D and zero dq_accum by itself, against the ~383 us (d = 128)
the main kernel it must stay ahead of runs. Works with main's flashk.py (the threads' side) and with side-tma.patch's
(the TMA side: o, dout and dq_accum's maps). Usage (from a kernels/test): python3 side_alone.py LABEL"""
import inspect
import os
import sys

import torch

sys.path.insert(0, os.getcwd())
from flashk import Kernels, grid_problem, make_params  # noqa: E402

sys.path.insert(0, os.path.join(os.getcwd(), '..', '..', 'bench'))
from peers import time_ms  # noqa: E402

label = sys.argv[1] if len(sys.argv) > 1 else ''
K = Kernels()
K.preload('bfloat16')
takes_maps = 'dq_accum' in inspect.signature(K.launch_side_pre).parameters
for d in (64, 128, 256):
    t = grid_problem(K, d, 512, 0)
    p = make_params(t.q, t.k, t.v, d ** -0.5, -1, 0, o=t.o, lse=t.lse, dout=t.dout, dq=t.dq, dk=t.dk, dv=t.dv,
                    dq_accum=t.acc, softmax_d=t.sd)
    entry = K.entry90(t.q, t.k, t.v, t.dk, 'bwd', (t.dout,))
    side = K.side_pre(entry, p, False, (t.dout, t.o))
    if side is None:
        print(f'{label} d={d}: no bwd_pre_side')
        continue
    flags = p.n * p.h * ((p.lq + side['tileRows'] - 1) // side['tileRows'])
    done = torch.zeros(p.n * p.hk + flags + 1, dtype=torch.int32, device='cuda')
    p.dq_done = done.data_ptr()
    p.ready_rows = side['tileRows']
    p.dq_done_whole = (p.lk + entry['tileRows'] - 1) // entry['tileRows']
    extra = dict(o=t.o, dout=t.dout, dq_accum=t.acc) if takes_maps else {}
    moved = t.o.numel() * 2 * 2 + t.acc.numel() * 4  # o and dout read, dq_accum zeroed
    ref = (t.o.float() * t.dout.float()).sum(-1).transpose(1, 2)  # D as [n, h, l]
    line = []
    for blocks in (12, 16, 24, 44):
        K.side_blocks = blocks

        def run():
            done.zero_()
            K.launch_side_pre(side, p, 0, **extra)
        t.acc.fill_(1.0)
        run()
        torch.cuda.synchronize()
        zeroed = t.acc.abs().max().item() == 0
        err = (t.sd - ref).abs().max().item()
        us = time_ms(run, repeats=15, warmup=3) * 1e3
        line.append(f'{blocks} blocks {us:6.1f} us ({moved / us / 1e3:5.0f} GB/s, zeroed {zeroed}, max|D-ref| {err:.1e})')
    print(f'{label} d={d} causal 512 ({moved / 1e6:.0f} MB): ' + '; '.join(line), flush=True)
