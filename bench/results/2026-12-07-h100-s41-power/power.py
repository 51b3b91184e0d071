"""Probe (session 41): clocks and power under sustained forward calls, ours against cuDNN, d = 128 non-causal at
(n = 2, l = 8k) and (n = 1, l = 16k). nvidia-smi samples every 20 ms in the background; each phase runs calls back
to back for `secs` and reports the per-call time early / late and the samples' median SM clock and power."""
import os
import statistics
import subprocess
import sys
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.getcwd())
from flashk import Kernels, forward  # noqa: E402

K = Kernels()
log = open(sys.argv[1], 'w') if len(sys.argv) > 1 else None
REASONS = 'clocks_event_reasons.active'
if subprocess.run(['nvidia-smi', f'--query-gpu={REASONS}', '--format=csv'], capture_output=True).returncode != 0:
    REASONS = 'clocks_throttle_reasons.active'
smi = subprocess.Popen(['nvidia-smi', f'--query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,{REASONS}',
                        '--format=csv,noheader,nounits', '-lms', '20'], stdout=subprocess.PIPE, text=True)
samples = []
import threading  # noqa: E402


def reader():
    for line in smi.stdout:
        samples.append((time.time(), line.strip()))


threading.Thread(target=reader, daemon=True).start()


def ours(n, l, h, d):
    q, k, v = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16) for _ in range(3))
    o, lse = torch.empty_like(q), torch.empty(n, h, l, device='cuda')
    return lambda: forward(K, q, k, v, d ** -0.5, -1, -1, o, lse)


def cudnn(n, l, h, d):
    q, k, v = (torch.randn(n, l, h, d, device='cuda', dtype=torch.bfloat16).transpose(1, 2) for _ in range(3))

    def fn():
        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION), torch.no_grad():
            torch.nn.functional.scaled_dot_product_attention(q, k, v)
    return fn


def phase(name, fn, flops, secs=1.5):
    fn()
    torch.cuda.synchronize()
    time.sleep(0.5)
    t0 = time.time()
    times = []
    while time.time() - t0 < secs:
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(11)]
        ev[0].record()
        for e in ev[1:]:
            fn()
            e.record()
        ev[-1].synchronize()
        times += [a.elapsed_time(b) for a, b in zip(ev, ev[1:])]
    t1 = time.time()
    s = [x[1].split(', ') for x in samples if t0 <= x[0] <= t1]
    clk = statistics.median(float(x[1]) for x in s) if s else 0
    pw = statistics.median(float(x[2]) for x in s) if s else 0
    tmp = max(float(x[3]) for x in s) if s else 0
    reasons = sorted({x[4] for x in s})
    tf = lambda ms: flops / (ms * 1e-3) / 1e12
    line = (f'{name:22s} calls {len(times):4d}: first-15 {tf(statistics.median(times[:15])):6.1f} last-15 '
            f'{tf(statistics.median(times[-15:])):6.1f} all {tf(statistics.median(times)):6.1f} TFLOP/s; SM clock '
            f'{clk:.0f} MHz, power {pw:.0f} W, temp max {tmp:.0f} C, reasons {reasons}')
    print(line, flush=True)


for rnd in range(2):
    for n, l in ((2, 8192), (1, 16384)):
        h, d = 16, 128
        flops = 4 * n * h * l * l * d
        phase(f'ours   n={n} l={l}', ours(n, l, h, d), flops)
        phase(f'cuDNN  n={n} l={l}', cudnn(n, l, h, d), flops)
smi.terminate()
