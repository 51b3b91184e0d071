"""What the persistent Hopper kernels' zeroed tile counter costs a short call: each forward / backward of the
standard grid (bf16, hidden 2048, n * l = 16384 tokens) timed as it runs (a counter zeroed by a fill just before
each persistent launch) and with counters zeroed ahead of time (one per launch from a pool: no fill in the timed
launches), in alternating rounds (ABBA). The difference is the most that zeroing the counter elsewhere (in bwd_pre,
or by a ring of counters zeroed all at once) could save.
Usage: python3 counter_gap.py [BUILD] [--dims 64,128,256] [--lengths 512,1024] [--rounds 4]"""
import argparse
import os
import sys

import torch

from flashk import BUILD, Kernels, forward, grid_problem

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bench'))
from peers import time_ms  # noqa: E402

REPEATS, WARMUP = 15, 3


def timed(K, run, ahead):
    """ms per call of `run` (one persistent launch per call), its counters zeroed ahead of time or by a fill each."""
    if not ahead:
        return time_ms(run, REPEATS, WARMUP)
    pool = torch.zeros(REPEATS + WARMUP, 64, dtype=torch.int32, device='cuda')  # counters 256 bytes apart
    torch.cuda.synchronize()
    K.zeroed_counters = iter(pool)
    try:
        return time_ms(run, REPEATS, WARMUP)
    finally:
        K.zeroed_counters = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('build', nargs='?', default=BUILD)
    ap.add_argument('--dims', default='64,128,256')
    ap.add_argument('--lengths', default='512,1024')
    ap.add_argument('--rounds', type=int, default=4)
    args = ap.parse_args()
    K = Kernels(args.build)
    print(f'{args.build}; {torch.cuda.get_device_name()}; median of {REPEATS} per round, {args.rounds} rounds; '
          'us per call with a fill before each launch / with counters zeroed ahead')
    for d in map(int, args.dims.split(',')):
        for l in map(int, args.lengths.split(',')):
            for wr in (-1, 0):
                prob = grid_problem(K, d, l, wr)
                run_forward = (lambda t=prob: forward(K, t.q, t.k, t.v, d ** -0.5, -1, wr, t.o, t.lse))
                for which, run in (('fwd', run_forward), ('bwd', prob.run_backward)):
                    us = {'fill': [], 'ahead': []}
                    for r in range(args.rounds):
                        for how in ('fill', 'ahead') if r % 2 == 0 else ('ahead', 'fill'):
                            us[how].append(1e3 * timed(K, run, ahead=how == 'ahead'))
                    fill, ahead = (sum(v) / len(v) for v in us.values())
                    print(f'{which} d {d:3d} {"causal" if wr == 0 else "full  "} l {l:5d}: {fill:7.1f} / {ahead:7.1f} us '
                          f'({100 * (fill / ahead - 1):+.1f}%)', flush=True)
                del prob


if __name__ == '__main__':
    main()
