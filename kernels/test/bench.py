"""Times our forward and backward against PyTorch's scaled_dot_product_attention with the FLASH backend
(FlashAttention-2) in the same process, on performance.md's grid: bf16, hidden 2048 (h = 2048 / d),
n * l = 16384 tokens. CUDA events around each launch sequence, median of timed runs after warm-up.
Usage: python3 bench.py [--lengths 2048,8192] [--dims 64,128,256]"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from flashk import Kernels, backward, forward

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bench'))
from peers import time_ms  # noqa: E402  (bench/peers.py: the timer `flash-attn bench` uses for its peers)


def median_ms(fn):
    """Median of 15 CUDA-event timings after 3 warm-up runs, with the product benchmark's timer."""
    return time_ms(fn, repeats=15, warmup=3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--lengths', default='2048,8192')
    ap.add_argument('--dims', default='64,128,256')
    ap.add_argument('--det', action='store_true', help='also time the deterministic backward')
    args = ap.parse_args()
    K = Kernels()
    print(f'device: {torch.cuda.get_device_name()}, torch {torch.__version__}, smem limit {K.limit}')
    print('bwd kernels:', ', '.join(sorted({e['symbol'] for k, e in K.entries.items() if k[0] == 'bwd' and k[1] == 'bfloat16'})))
    print('  d causal     l |  ours fwd   FA2 fwd  ratio cuDNN fwd  ratio |  ours bwd   FA2 bwd  ratio cuDNN bwd  ratio '
          '| max|o-o_fa2|')
    rows = []
    for d in map(int, args.dims.split(',')):
        for l in map(int, args.lengths.split(',')):
            for causal in (False, True):
                h, n = 2048 // d, 16384 // l
                torch.manual_seed(0)
                q, k, v, dout = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(4))
                scale = d ** -0.5
                wl, wr = (-1, 0) if causal else (-1, -1)
                o = torch.empty_like(q)
                lse = torch.empty(n, h, l, device='cuda')
                dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
                acc = torch.empty(n, l, h, d, device='cuda')
                sd = torch.empty(n, h, l, device='cuda')
                fwd_ms = median_ms(lambda: forward(K, q, k, v, scale, wl, wr, o, lse))
                bwd_ms = median_ms(lambda: backward(K, q, k, v, o, lse, dout, scale, wl, wr, dq, dk, dv, acc, sd))
                if args.det:
                    det_ms = median_ms(lambda: backward(K, q, k, v, o, lse, dout, scale, wl, wr, dq, dk, dv, acc, sd,
                                                        deterministic=True))
                    print(f'    deterministic bwd: {2.5 * 4 * n * h * l * l * d * (0.5 if causal else 1.0) / det_ms / 1e9:.1f} '
                          f'TFLOP/s ({det_ms / bwd_ms:.2f}x the time of the default backward)')
                qt, kt, vt = (x.transpose(1, 2).detach().requires_grad_() for x in (q, k, v))
                dot = dout.transpose(1, 2)
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    ref = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
                    fa_fwd_ms = median_ms(lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal))
                    fa_bwd_ms = median_ms(lambda: torch.autograd.grad(ref, (qt, kt, vt), dot, retain_graph=True))
                with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                    cref = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
                    cudnn_fwd_ms = median_ms(lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal))
                    cudnn_bwd_ms = median_ms(lambda: torch.autograd.grad(cref, (qt, kt, vt), dot, retain_graph=True))
                diff = (ref.detach().transpose(1, 2).float() - o.float()).abs().max().item()
                flops = 4 * n * h * l * l * d * (0.5 if causal else 1.0)
                tf = lambda ms, mult: mult * flops / ms / 1e9
                r = (d, causal, l, tf(fwd_ms, 1), tf(fa_fwd_ms, 1), tf(bwd_ms, 2.5), tf(fa_bwd_ms, 2.5), diff,
                     tf(cudnn_fwd_ms, 1), tf(cudnn_bwd_ms, 2.5))
                rows.append(r)
                print(f'{d:3d} {str(causal):6s} {l:5d} | {r[3]:8.1f}  {r[4]:8.1f}  {r[3] / r[4]:5.2f}  {r[8]:8.1f}  '
                      f'{r[3] / r[8]:5.2f} | {r[5]:8.1f}  {r[6]:8.1f}  {r[5] / r[6]:5.2f}  {r[9]:8.1f}  {r[5] / r[9]:5.2f} | '
                      f'{diff:.2e}', flush=True)
                del q, k, v, dout, o, lse, dq, dk, dv, acc, sd, qt, kt, vt, ref, cref
    print('TFLOP/s (FlashAttention convention: fwd 4*n*h*l*l*d, halved when causal; bwd 2.5x)')


if __name__ == '__main__':
    main()
