"""A/B of two kernel builds in one process: our forward and/or backward only (no peers), performance.md's grid (bf16,
hidden 2048, n * l = 16384 tokens), the builds timed in alternating rounds so that clock and thermal drift fall on
both alike, A first in even rounds and B in odd ones (use an even number of rounds: the build timed second in every
round may lose where the card runs at its power limit, as the non-causal d = 256 rows seemed to). Prints TFLOP/s per
round and build, the mean of the rounds and B's change over A, and checks that both builds give the same o (and dq,
dk, dv) within bf16 rounding, so a faster wrong kernel cannot pass for a win.
Usage: python3 ab.py A_BUILD B_BUILD [--pass fwd|bwd|both] [--dims 64] [--lengths 512,1024] [--causal both|yes|no]
                     [--rounds 4] [--deterministic]
--deterministic times the deterministic backward (bwd_dq_det's dq; the main kernel without dQ) on both builds."""
import argparse
import os
import sys

import torch

from flashk import Kernels, backward, forward

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bench'))
from peers import time_ms  # noqa: E402  (bench/peers.py: the timer `flash-attn bench` uses)


def flag(value):
    return value == '1'


# Settings of build B alone, from the environment, each onto an attribute of its flashk.Kernels:
B_KNOBS = (
    # B's Hopper backward leaves that many multiprocessors free (flashk.py's bwd_spare_sms).
    ('FLASH_AB_B_SPARE_SMS', 'bwd_spare_sms', int),
    # 0: B's bwd_dq waits for everything before it (a plain launch), whatever FLASH_PDL_DQ says.
    ('FLASH_AB_B_PDL_DQ', 'pdl_dq', flag),
    # B's bwd_pre_side on that many blocks (flashk.py's side_blocks).
    ('FLASH_AB_B_SIDE_BLOCKS', 'side_blocks', int),
    # 0 / 1: B without / with bwd_pre_side where flashk.py's side_pre allows it.
    ('FLASH_AB_B_SIDE_PRE', 'side_pre_on', flag),
    # 0 / 1: B's bwd_pre_side unpaced / paced where flashk.py's paced_side_blocks allows; then B's bound on lq and lk,
    # and its paced blocks.
    ('FLASH_AB_B_PACE', 'pace', flag),
    ('FLASH_AB_B_PACE_MAX_KEYS', 'pace_max_keys', int),
    ('FLASH_AB_B_PACED_BLOCKS', 'paced_blocks', int),
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('a')
    ap.add_argument('b')
    ap.add_argument('--pass', dest='which', default='both', choices=['fwd', 'bwd', 'both'])
    ap.add_argument('--dims', default='64,128,256')
    ap.add_argument('--lengths', default='512,1024,2048,4096,8192,16384')
    ap.add_argument('--causal', default='both', choices=['both', 'yes', 'no'])
    ap.add_argument('--rounds', type=int, default=4)
    ap.add_argument('--deterministic', action='store_true')
    args = ap.parse_args()
    builds = {'A': Kernels(args.a), 'B': Kernels(args.b)}
    for var, attr, parse in B_KNOBS:
        if os.environ.get(var):
            setattr(builds['B'], attr, parse(os.environ[var]))
    for K in builds.values():
        K.preload('bfloat16')  # no first load while a kernel that waits on a later one runs (flashk.py's preload)
    passes = ['fwd', 'bwd'] if args.which == 'both' else [args.which]
    causals = {'both': (False, True), 'yes': (True,), 'no': (False,)}[args.causal]
    print(f'A = {args.a}, B = {args.b}; {torch.cuda.get_device_name()}; median of 15 per round, {args.rounds} rounds'
          f'{", deterministic backward" if args.deterministic else ""}')
    gains = []
    for d in map(int, args.dims.split(',')):
        for l in map(int, args.lengths.split(',')):
            for causal in causals:
                h, n = 2048 // d, 16384 // l
                torch.manual_seed(0)
                q, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
                scale, (wl, wr) = d ** -0.5, ((-1, 0) if causal else (-1, -1))
                out = {}
                for name, K in builds.items():
                    o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
                    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
                    acc, sd = torch.empty(n, l, h, d, device='cuda'), torch.empty(n, h, l, device='cuda')
                    fwd = (lambda K=K, o=o, lse=lse: forward(K, q, k, v, scale, wl, wr, o, lse))
                    bwd = (lambda K=K, o=o, lse=lse, dq=dq, dk=dk, dv=dv, acc=acc, sd=sd:
                           backward(K, q, k, v, o, lse, dout, scale, wl, wr, dq, dk, dv, acc, sd,
                                    deterministic=args.deterministic))
                    fwd()
                    bwd()
                    out[name] = {'fwd': fwd, 'bwd': bwd, 'tensors': (o, dq, dk, dv)}
                torch.cuda.synchronize()
                names = ('o', 'dq', 'dk', 'dv') if 'bwd' in passes else ('o',)
                diffs = [(x - y).float().abs().max().item() / max(y.float().abs().max().item(), 1e-30)
                         for x, y in zip(out['A']['tensors'], out['B']['tensors'])][:len(names)]
                flops = 4 * n * h * l * l * d * (0.5 if causal else 1.0)
                for which in passes:
                    mult = 1.0 if which == 'fwd' else 2.5
                    tf = {'A': [], 'B': []}
                    for r in range(args.rounds):
                        for name in ('A', 'B') if r % 2 == 0 else ('B', 'A'):
                            tf[name].append(mult * flops / time_ms(out[name][which], repeats=15, warmup=3) / 1e9)
                    mean = {name: sum(v) / len(v) for name, v in tf.items()}
                    gain = mean['B'] / mean['A'] - 1
                    gains.append(gain)
                    rounds = ' '.join(f'{a:.0f}/{b:.0f}' for a, b in zip(tf['A'], tf['B']))
                    print(f'{which} d {d:3d} {"causal" if causal else "full  "} l {l:5d}: A {mean["A"]:6.1f} B '
                          f'{mean["B"]:6.1f} TFLOP/s ({100 * gain:+5.1f}%)  rounds A/B {rounds}  '
                          f'max rel |A-B| {" ".join(f"{nm} {x:.1e}" for nm, x in zip(names, diffs))}', flush=True)
                del q, k, v, dout, out
    print(f'mean change B over A: {100 * sum(gains) / len(gains):+.1f}% over {len(gains)} rows')


if __name__ == '__main__':
    main()
