"""GPU correctness checks of the kernels against a float64 reference with testing.md's tolerance rule:
    max|X - X64| <= F * max|Xlp - X64| + 2 * ulp(dtype, max|X64|)     (F = 2 for o, lse; 3 for dq, dk, dv)
Every output sits in a NaN-prefilled buffer between NaN guard margins. Prints one line per failure and a
summary; exit status 1 on any failure.
Usage: python3 check.py [--quick] [--big] [--bf16]. --bf16 skips the float16 cases, for a probe build of bfloat16
kernels only (build-kernels.mjs --only=bf16:...); head dims missing from a build run padded to the next one built."""
import math
import random
import sys
import time

import torch

from flashk import Kernels, forward, backward

GUARD = 256
FAILURES = []
ZERO_BASELINE = []
COUNT = [0]


def guarded(shape, dtype):
    """A NaN-filled buffer with GUARD NaN elements on each side; returns (whole buffer, view of the middle)."""
    numel = math.prod(shape)
    whole = torch.full((numel + 2 * GUARD,), float('nan'), dtype=dtype, device='cuda')
    return whole, whole[GUARD:GUARD + numel].view(shape)


def guards_intact(whole):
    return bool(torch.isnan(whole[:GUARD]).all() and torch.isnan(whole[-GUARD:]).all())


def ulp(dtype, x):
    mant = {torch.float16: 10, torch.bfloat16: 7, torch.float32: 23}[dtype]
    if x == 0 or not math.isfinite(x):
        return 2.0 ** -24
    return 2.0 ** (math.floor(math.log2(abs(x))) - mant)


def allowed_mask(lq, lk, wl, wr, diag):
    i = torch.arange(lq, device='cuda')[:, None]
    j = torch.arange(lk, device='cuda')[None, :]
    ok = torch.ones(lq, lk, dtype=torch.bool, device='cuda')
    if wl >= 0:
        ok &= j >= i + diag - wl
    if wr >= 0:
        ok &= j <= i + diag + wr
    return ok


def reference64(q, k, v, dout, scale, wl, wr, diag):
    """float64 forward and backward: (o, lse, dq, dk, dv) in [n, l, h, d] / [n, h, lq]."""
    n, lq, h, d = q.shape
    lk, hk = k.shape[1], k.shape[2]
    g = h // hk
    qd = q.double().transpose(1, 2)
    kd = k.double().transpose(1, 2).repeat_interleave(g, dim=1)
    vd = v.double().transpose(1, 2).repeat_interleave(g, dim=1)
    dod = dout.double().transpose(1, 2)
    ok = allowed_mask(lq, lk, wl, wr, diag)
    s = scale * (qd @ kd.transpose(-1, -2))
    s = s.masked_fill(~ok, float('-inf'))
    lse = torch.logsumexp(s, dim=-1) if lk > 0 else torch.full((n, h, lq), float('-inf'), dtype=torch.float64,
                                                                device='cuda')
    has = torch.isfinite(lse)[..., None]
    p = torch.where(has, torch.exp(s - torch.where(has, lse[..., None], 0)), 0.0)
    o = p @ vd
    dp = dod @ vd.transpose(-1, -2)
    dvec = (dod * o).sum(-1, keepdim=True)
    ds = p * (dp - dvec)
    dq = scale * ds @ kd
    dk = (scale * ds.transpose(-1, -2) @ qd).view(n, hk, g, lk, d).sum(2)
    dv = (p.transpose(-1, -2) @ dod).view(n, hk, g, lk, d).sum(2)
    return o.transpose(1, 2), lse, dq.transpose(1, 2), dk.transpose(1, 2), dv.transpose(1, 2)


def reference_lp(q, k, v, dout, scale, wl, wr, diag):
    """Naive attention in the input dtype, as a plain framework implementation rounds it (autograd backward)."""
    n, lq, h, d = q.shape
    lk, hk = k.shape[1], k.shape[2]
    g = h // hk
    qt = q.transpose(1, 2).detach().requires_grad_()
    kt = k.transpose(1, 2).detach().requires_grad_()
    vt = v.transpose(1, 2).detach().requires_grad_()
    ok = allowed_mask(lq, lk, wl, wr, diag)
    s = (qt @ kt.repeat_interleave(g, dim=1).transpose(-1, -2)) * scale
    s = s.masked_fill(~ok, float('-inf'))
    lse = torch.logsumexp(s, dim=-1)
    p = torch.softmax(s, dim=-1)
    p = torch.where(ok.any(-1)[:, None], p, torch.zeros((), dtype=p.dtype, device='cuda'))
    o = p @ vt.repeat_interleave(g, dim=1)
    o.backward(dout.transpose(1, 2))
    return (o.detach().transpose(1, 2), lse.detach(), qt.grad.transpose(1, 2), kt.grad.transpose(1, 2),
            vt.grad.transpose(1, 2))


def compare(label, name, got, x64, xlp, factor, dtype):
    COUNT[0] += 1
    if len(FAILURES) > 0 and FAILURES[-1] != compare.last_printed:
        compare.last_printed = FAILURES[-1]
        print('FAIL', FAILURES[-1], flush=True)
    got = got.double()
    if got.numel() == 0:
        return
    if torch.isnan(got).any():
        FAILURES.append(f'{label} {name}: NaN in output ({int(torch.isnan(got).sum())} elements)')
        return
    fin = torch.isfinite(x64)
    if not torch.equal(torch.isfinite(got), fin) or not torch.equal(got[~fin], x64[~fin]):
        FAILURES.append(f'{label} {name}: infinities differ from the reference')
        return
    if not fin.any():
        return
    err = (got - x64)[fin].abs()
    if x64[fin].abs().max().item() == 0 and err.max().item() > 0:
        # The reference is exactly zero (e.g. every row sees one key, so dS = P (dP - D) = 0 exactly). The kernel's
        # D_i = dot(dout_i, o_i) and dP_ij come from different fp32 summation orders, so the result is a rounding
        # residue; the rule's floor (2 ulp of 0) cannot absorb it. Reported apart, never counted as a pass.
        ZERO_BASELINE.append(f'{label} {name}: reference exactly 0, max |err| {err.max().item():.3e}')
        return
    lp_err = (xlp.double() - x64)[fin].abs().nan_to_num(0).max().item()
    bound = factor * lp_err + 2 * ulp(dtype, x64[fin].abs().max().item())
    if err.max().item() > bound:
        FAILURES.append(f'{label} {name}: max err {err.max().item():.3e} mean {err.mean().item():.3e} '
                        f'bound {bound:.3e} (lp err {lp_err:.3e}) ratio {err.max().item() / bound:.2f}')


compare.last_printed = None


def run_case(K, dtype, n, lq, lk, h, hk, d, wl, wr, seed, out_float32=False, scale_inputs=(1, 1, 1), factor=None,
             with_bwd=True, diag=None, deterministic=False, misalign_o=False):
    label = (f'[{str(dtype)[6:]} n={n} lq={lq} lk={lk} h={h}/{hk} d={d} window=({wl},{wr}) f32out={out_float32} '
             f'det={deterministic} seed={seed}]')
    gen = torch.Generator(device='cuda').manual_seed(seed)
    def randn(*shape, mul=1.0):
        return (torch.randn(*shape, generator=gen, device='cuda', dtype=torch.float32) * mul).to(dtype)
    q = randn(n, lq, h, d, mul=scale_inputs[0])
    k = randn(n, lk, hk, d, mul=scale_inputs[1])
    v = randn(n, lk, hk, d, mul=scale_inputs[2])
    dout = randn(n, lq, h, d)
    scale = 1.0 / math.sqrt(d)
    diag = lk - lq if diag is None else diag
    out_dtype = torch.float32 if out_float32 else dtype
    o_buf, o = guarded((n, lq, h, d), out_dtype)
    lse_buf, lse = guarded((n, h, lq), torch.float32)
    forward(K, q, k, v, scale, wl, wr, o, lse, out_float32, diag)
    torch.cuda.synchronize()
    if not (guards_intact(o_buf) and guards_intact(lse_buf)):
        FAILURES.append(f'{label} fwd: guard margin overwritten')
    o64, lse64, dq64, dk64, dv64 = reference64(q, k, v, dout, scale, wl, wr, diag)
    olp, lselp, dqlp, dklp, dvlp = reference_lp(q, k, v, dout, scale, wl, wr, diag)
    f_fwd = factor or 2
    f_bwd = factor or 3
    compare(label, 'o', o, o64, olp, f_fwd, dtype)
    compare(label, 'lse', lse, lse64, lselp, f_fwd, dtype)
    if not with_bwd:
        return
    o_in = o.to(dtype)  # the backward reads o in the input dtype
    if misalign_o:  # o one element past 16 bytes (q, k, v and dout stay aligned): the Hopper dq pass's scalar loads of o
        o_in = torch.empty(o_in.numel() + 8, dtype=dtype, device='cuda')[1:1 + o_in.numel()].view(o_in.shape).copy_(o_in)
    dq_buf, dq = guarded((n, lq, h, d), out_dtype)
    dk_buf, dk = guarded((n, lk, hk, d), out_dtype)
    dv_buf, dv = guarded((n, lk, hk, d), out_dtype)
    acc_buf, acc = guarded((n, lq, h, d), torch.float32)
    sd_buf, sd = guarded((n, h, lq), torch.float32)
    backward(K, q, k, v, o_in, lse, dout, scale, wl, wr, dq, dk, dv, acc, sd, out_float32, diag, deterministic)
    torch.cuda.synchronize()
    for nm, buf in (('dq', dq_buf), ('dk', dk_buf), ('dv', dv_buf), ('dq_accum', acc_buf), ('softmax_d', sd_buf)):
        if not guards_intact(buf):
            FAILURES.append(f'{label} bwd: guard margin of {nm} overwritten')
    compare(label, 'dq', dq, dq64, dqlp, f_bwd, dtype)
    compare(label, 'dk', dk, dk64, dklp, f_bwd, dtype)
    compare(label, 'dv', dv, dv64, dvlp, f_bwd, dtype)


def determinism(K, dtype, n, lq, lk, h, hk, d, wl, wr, deterministic=False, runs=3):
    """o, lse, dk, dv bitwise equal over `runs` runs; with the deterministic backward, dq too."""
    label = f'[determinism det={deterministic} {str(dtype)[6:]} lq={lq} lk={lk} h={h}/{hk} d={d} window=({wl},{wr})]'
    torch.manual_seed(7)
    q = torch.randn(n, lq, h, d, device='cuda').to(dtype)
    k = torch.randn(n, lk, hk, d, device='cuda').to(dtype)
    v = torch.randn(n, lk, hk, d, device='cuda').to(dtype)
    dout = torch.randn(n, lq, h, d, device='cuda').to(dtype)
    scale = d ** -0.5
    outs = []
    for _ in range(runs):
        o = torch.empty(n, lq, h, d, device='cuda', dtype=dtype)
        lse = torch.empty(n, h, lq, device='cuda')
        forward(K, q, k, v, scale, wl, wr, o, lse)
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        acc = torch.empty(n, lq, h, d, device='cuda')
        sd = torch.empty(n, h, lq, device='cuda')
        backward(K, q, k, v, o, lse, dout, scale, wl, wr, dq, dk, dv, acc, sd, deterministic=deterministic)
        outs.append((o, lse, dk, dv, dq) if deterministic else (o, lse, dk, dv))
    torch.cuda.synchronize()
    COUNT[0] += 1
    names = ('o', 'lse', 'dk', 'dv', 'dq')
    for i, first in enumerate(outs[0]):
        bits = torch.int32 if first.dtype == torch.float32 else torch.int16
        if not all(torch.equal(first.view(bits), later[i].view(bits)) for later in outs[1:]):
            FAILURES.append(f'{label} {names[i]} differs between runs')


def big_offsets(K, n=16384, d=128, deterministic=False):
    """> 2^31 elements per tensor (n=16384, l=128, h=8, d=128; or n=8200 with d=256, the wide Hopper backward);
    checks the last batch items against float64."""
    l, h = 128, 8
    dtype = torch.bfloat16
    label = f'[big n={n} l={l} h={h} d={d} det={deterministic}]'
    torch.manual_seed(3)
    q = torch.randn(n, l, h, d, device='cuda', dtype=dtype)
    k = torch.randn(n, l, h, d, device='cuda', dtype=dtype)
    v = torch.randn(n, l, h, d, device='cuda', dtype=dtype)
    dout = torch.randn(n, l, h, d, device='cuda', dtype=dtype)
    o = torch.full_like(q, float('nan'))
    lse = torch.full((n, h, l), float('nan'), device='cuda')
    scale = d ** -0.5
    forward(K, q, k, v, scale, -1, 0, o, lse)
    dq, dk, dv = torch.full_like(q, float('nan')), torch.full_like(k, float('nan')), torch.full_like(v, float('nan'))
    acc = torch.empty(n, l, h, d, device='cuda')
    sd = torch.empty(n, h, l, device='cuda')
    backward(K, q, k, v, o, lse, dout, scale, -1, 0, dq, dk, dv, acc, sd, deterministic=deterministic)
    torch.cuda.synchronize()
    del acc, sd
    sl = slice(n - 3, n)
    o64, lse64, dq64, dk64, dv64 = reference64(q[sl], k[sl], v[sl], dout[sl], scale, -1, 0, 0)
    olp, lselp, dqlp, dklp, dvlp = reference_lp(q[sl], k[sl], v[sl], dout[sl], scale, -1, 0, 0)
    compare(label, 'o', o[sl], o64, olp, 2, dtype)
    compare(label, 'lse', lse[sl], lse64, lselp, 2, dtype)
    compare(label, 'dq', dq[sl], dq64, dqlp, 3, dtype)
    compare(label, 'dk', dk[sl], dk64, dklp, 3, dtype)
    compare(label, 'dv', dv[sl], dv64, dvlp, 3, dtype)
    COUNT[0] += 1
    if torch.isnan(o).any() or torch.isnan(dq).any() or torch.isnan(dk).any():
        FAILURES.append(f'{label}: NaN somewhere in o/dq/dk (unwritten elements)')


HEAD_DIMS = [1, 8, 32, 40, 59, 64, 80, 96, 111, 128, 160, 192, 224, 256]
SHAPES = [(1, 1), (1, 239), (239, 1), (3, 799), (799, 3), (113, 203), (128, 217), (108, 256), (256, 512),
          (512, 256), (1023, 1024), (1024, 1023)]
HEADS = [(6, 6), (6, 3), (6, 2), (6, 1)]


def window_for(kind, lk, rnd):
    return {'none': (-1, -1), 'causal': (-1, 0), 'w00': (0, 0), 'w33': (3, 3),
            'random': (rnd.randint(0, max(lk, 1)), rnd.randint(0, max(lk, 1))),
            'left': (rnd.randint(0, max(lk, 1)), -1), 'right': (-1, rnd.randint(0, max(lk, 1)))}[kind]


MASKS = ['none', 'causal', 'random', 'w00', 'w33', 'left', 'right']
DTYPES = (torch.bfloat16,) if '--bf16' in sys.argv else (torch.bfloat16, torch.float16)


def main():
    quick = '--quick' in sys.argv
    K = Kernels()
    rnd = random.Random(1234)
    t0 = time.time()
    idx = 0
    for dtype in DTYPES:
        for d in HEAD_DIMS:
            for c in range(2 if quick else 4):
                lq, lk = SHAPES[(idx * 5 + c * 7) % len(SHAPES)]
                h, hk = HEADS[(idx + c) % len(HEADS)]
                wl, wr = window_for(MASKS[(idx * 3 + c) % len(MASKS)], lk, rnd)
                n = 1 + (idx + c) % 2
                run_case(K, dtype, n, lq, lk, h, hk, d, wl, wr, seed=idx * 10 + c)
            idx += 1
            print(f'{str(dtype)[6:]} d={d}: {COUNT[0]} comparisons, {len(FAILURES)} failures', flush=True)
    print(f'grid: {COUNT[0]} comparisons, {len(FAILURES)} failures, {time.time() - t0:.1f} s', flush=True)
    # Special cases.
    for dtype in DTYPES:
        run_case(K, dtype, 2, 2048, 2048, 4, 2, 128, -1, 0, seed=1)
        run_case(K, dtype, 1, 2048, 2048, 4, 4, 64, -1, -1, seed=2)
        run_case(K, dtype, 1, 239, 17, 6, 2, 64, -1, 0, seed=3)            # causal lq > lk: empty rows
        run_case(K, dtype, 1, 300, 300, 6, 3, 96, 5, 0, seed=4)            # empty rows? no: sliding window
        run_case(K, dtype, 1, 200, 100, 2, 1, 128, 10, 10, seed=5)         # rows without keys at the top
        run_case(K, dtype, 1, 0, 64, 6, 3, 64, -1, -1, seed=6)             # lq = 0
        run_case(K, dtype, 1, 64, 0, 6, 3, 64, -1, -1, seed=7)             # lk = 0
        run_case(K, dtype, 2, 333, 270, 6, 2, 59, -1, 0, seed=8, out_float32=True)
        run_case(K, dtype, 1, 129, 1000, 4, 1, 256, 30, 70, seed=9, out_float32=True)
        run_case(K, dtype, 1, 257, 257, 4, 4, 111, -1, -1, seed=10, scale_inputs=(5, 3, 3), factor=5)
        run_case(K, dtype, 1, 257, 300, 4, 2, 128, -1, 0, seed=11, scale_inputs=(5, 3, 3), factor=5)
        run_case(K, dtype, 1, 100, 100, 2, 2, 64, -1, 0, seed=12, diag=-50)  # ring-style diagonal offset
        run_case(K, dtype, 1, 100, 100, 2, 2, 64, 4, -1, seed=13, diag=150)
    print(f'special: {COUNT[0]} comparisons, {len(FAILURES)} failures, {time.time() - t0:.1f} s', flush=True)
    # The Hopper backward's edges (on a 9.0 card bwd.cuh runs for d % 8 == 0, d <= 128): key blocks of 128 with the
    # second consumer's 64 keys partly or wholly past lk, query steps of 64 / 128 rows past lq, a single query or
    # key, GQA groups walked inside one block, windows narrower than a step, ring-style diagonals.
    for dtype in DTYPES:
        for i, (d, lq, lk, h, hk, wl, wr, diag) in enumerate((
                (8, 1, 1, 2, 1, -1, -1, None), (64, 1, 200, 4, 2, -1, -1, None), (128, 200, 1, 4, 4, -1, 0, None),
                (64, 130, 50, 8, 1, -1, -1, None), (128, 65, 127, 6, 3, -1, 0, None), (72, 129, 129, 4, 2, 7, 7, None),
                (120, 257, 300, 4, 1, 0, 0, None), (64, 300, 257, 2, 2, 40, -1, None), (128, 190, 190, 2, 1, -1, 3, -64),
                (96, 128, 256, 4, 2, 100, 20, 200))):
            run_case(K, dtype, 1 + i % 2, lq, lk, h, hk, d, wl, wr, seed=700 + i, diag=diag)
    print(f'hopper backward edges: {COUNT[0]} comparisons, {len(FAILURES)} failures, {time.time() - t0:.1f} s', flush=True)
    # Large grids of the Hopper backward (d = 128 compiled, so 72 < d <= 128): more blocks (key blocks x kv heads x
    # batch) than an H100's 132 multiprocessors, blocks without steps among them (a narrow window far left of a short
    # q), the chunked and head-major block orders, GQA, and the deterministic backward's dq-free path. (Written for the
    # persistent backward of bench/NOTES.md B20, where blocks took several of these items each.)
    for dtype in DTYPES:
        for i, (n, lq, lk, h, hk, d, wl, wr, det) in enumerate((
                (2, 300, 4000, 8, 4, 128, 50, 0, False), (3, 3000, 3000, 6, 3, 128, -1, -1, False),
                (1, 5000, 5000, 4, 4, 96, -1, 0, False), (2, 4500, 4500, 4, 2, 128, -1, 0, True),
                (2, 2100, 4300, 8, 4, 120, 700, 300, False))):
            run_case(K, dtype, n, lq, lk, h, hk, d, wl, wr, seed=900 + i, deterministic=det)
    determinism(K, torch.bfloat16, 2, 4500, 4500, 4, 2, 128, -1, 0, deterministic=True, runs=5)
    # One-step items, many a block, without dQ (the deterministic backward) at d = 64, whose two K / V buffers let
    # warpgroup 0 run an item ahead: the start barriers' parity (bwd.cuh).
    for dtype in DTYPES:
        run_case(K, dtype, 4, 100, 4000, 8, 4, 64, -1, -1, seed=910, deterministic=True)
        run_case(K, dtype, 3, 128, 3000, 8, 8, 64, 40, 0, seed=911, deterministic=True)
    print(f'large hopper backward grids: {COUNT[0]} comparisons, {len(FAILURES)} failures, {time.time() - t0:.1f} s',
          flush=True)
    # The wide Hopper backward (d = 256 compiled; 128 < d <= 256 with d % 8 == 0 padded): blocks of 80 keys split
    # 40 per consumer in S and dP, query steps of 64, dK^T / dV^T split by head dim: the edges of either half (lk = 30:
    # the second consumer's keys all past lk; 41, 79, 81: one key over or under a half or a block).
    for dtype in DTYPES:
        for i, (d, lq, lk, h, hk, wl, wr, diag) in enumerate((
                (256, 1, 1, 2, 1, -1, -1, None), (256, 1, 200, 4, 2, -1, -1, None), (256, 200, 1, 4, 4, -1, 0, None),
                (136, 65, 63, 6, 3, -1, 0, None), (192, 130, 70, 8, 1, -1, -1, None), (200, 129, 129, 4, 2, 7, 7, None),
                (256, 257, 300, 4, 1, 0, 0, None), (248, 300, 257, 2, 2, 40, -1, None), (256, 190, 190, 2, 1, -1, 3, -64),
                (224, 128, 256, 4, 2, 100, 20, 200), (256, 1000, 1000, 4, 2, -1, 0, None),
                (256, 100, 30, 2, 1, -1, -1, None), (256, 97, 41, 4, 2, -1, 0, -20), (256, 160, 79, 2, 2, 5, 60, None),
                (256, 81, 81, 2, 1, -1, 0, None))):
            run_case(K, dtype, 1 + i % 2, lq, lk, h, hk, d, wl, wr, seed=800 + i, diag=diag)
        # More items than multiprocessors, so that blocks take several (the d = 256 cases above fit in one wave;
        # Q6's miscounting showed only with several items a block: bench/NOTES.md Q7).
        run_case(K, dtype, 2, 3000, 3000, 8, 4, 256, -1, -1, seed=830)
        run_case(K, dtype, 3, 2500, 2600, 4, 2, 256, -1, 0, seed=831)
        run_case(K, dtype, 1, 333, 270, 4, 2, 256, -1, 0, seed=820, out_float32=True)
        run_case(K, dtype, 1, 257, 300, 4, 2, 256, -1, 0, seed=821, scale_inputs=(5, 3, 3), factor=5)
    print(f'wide hopper backward: {COUNT[0]} comparisons, {len(FAILURES)} failures, {time.time() - t0:.1f} s', flush=True)
    determinism(K, torch.bfloat16, 2, 1000, 1000, 8, 2, 128, -1, 0)
    if torch.float16 in DTYPES:
        determinism(K, torch.float16, 1, 777, 513, 4, 4, 64, -1, -1)
    determinism(K, torch.bfloat16, 1, 500, 500, 4, 1, 256, 50, 20)
    print(f'determinism: {COUNT[0]} comparisons, {len(FAILURES)} failures, {time.time() - t0:.1f} s', flush=True)
    # The deterministic backward (dq from bwd_dq_det): every head dim against float64, then bitwise repeatability.
    for dtype in DTYPES:
        for i, d in enumerate(HEAD_DIMS):
            lq, lk = SHAPES[(i * 3 + 1) % len(SHAPES)]
            h, hk = HEADS[i % len(HEADS)]
            wl, wr = window_for(MASKS[i % len(MASKS)], lk, rnd)
            run_case(K, dtype, 1 + i % 2, lq, lk, h, hk, d, wl, wr, seed=500 + i, deterministic=True)
        run_case(K, dtype, 1, 257, 300, 4, 2, 128, -1, 0, seed=511, scale_inputs=(5, 3, 3), factor=5,
                 deterministic=True)
        run_case(K, dtype, 2, 333, 270, 6, 2, 64, -1, 0, seed=512, out_float32=True, deterministic=True)
        run_case(K, dtype, 1, 239, 17, 6, 2, 64, -1, 0, seed=513, deterministic=True)  # empty rows
    # The Hopper bwd_dq_det (dq_det.cuh; d = 64 / 128 / 256 compiled, beside the Hopper bwd): tiles of 128 query rows
    # (d = 256: 64), key blocks of 128 (80), partial last tiles and key blocks, windows, GQA, lq != lk with a diagonal
    # offset, padded head dims.
    for dtype in DTYPES:
        for i, (d, lq, lk, h, hk, wl, wr, diag) in enumerate((
                (64, 129, 300, 4, 2, -1, 0, None), (128, 300, 129, 4, 1, 30, 70, None),
                (96, 257, 257, 2, 2, -1, -1, None), (120, 1, 500, 2, 1, -1, -1, None), (64, 500, 1, 4, 4, -1, 0, None),
                (128, 190, 190, 2, 1, -1, 3, -64), (72, 640, 700, 4, 2, 200, 0, None), (256, 97, 41, 4, 2, -1, 0, -20),
                (200, 300, 257, 2, 2, 40, -1, None), (256, 1000, 1000, 4, 1, -1, 0, None))):
            run_case(K, dtype, 1 + i % 2, lq, lk, h, hk, d, wl, wr, seed=520 + i, diag=diag, deterministic=True)
        # The Hopper dq pass computes D = rowsum(dout o o) itself: o unaligned for 16-byte loads, and a tile whose rows
        # see no key (lq > lk with a window) beside tiles that do.
        for i, (d, lq, lk, h, hk, wl, wr, diag) in enumerate((
                (64, 300, 257, 4, 2, -1, 0, None), (128, 190, 300, 2, 1, 20, 0, None), (256, 150, 150, 2, 2, -1, -1, None),
                (128, 400, 100, 2, 2, 0, 0, -300), (256, 300, 80, 2, 1, 10, 0, -220))):
            run_case(K, dtype, 1 + i % 2, lq, lk, h, hk, d, wl, wr, seed=540 + i, diag=diag, deterministic=True,
                     misalign_o=i < 3)
    determinism(K, torch.bfloat16, 2, 1000, 1000, 8, 2, 128, -1, 0, deterministic=True, runs=20)
    if torch.float16 in DTYPES:
        determinism(K, torch.float16, 1, 777, 513, 4, 4, 64, 30, 7, deterministic=True, runs=20)
    determinism(K, torch.bfloat16, 1, 500, 500, 4, 1, 256, -1, -1, deterministic=True, runs=20)
    print(f'deterministic mode: {COUNT[0]} comparisons, {len(FAILURES)} failures, {time.time() - t0:.1f} s',
          flush=True)
    if '--big' in sys.argv:
        big_offsets(K)
        big_offsets(K, n=8200, d=256)
        big_offsets(K, deterministic=True)  # the deterministic dq pass (bwd_dq_det90 on Hopper) on the same sizes
        big_offsets(K, n=8200, d=256, deterministic=True)
        print(f'big: {COUNT[0]} comparisons, {len(FAILURES)} failures, {time.time() - t0:.1f} s', flush=True)
    for f in FAILURES[:80]:
        print('FAIL', f)
    worst = max((float(z.rsplit(' ', 1)[1]) for z in ZERO_BASELINE), default=0.0)
    print(f'zero-baseline residues (reference exactly 0): {len(ZERO_BASELINE)}, worst |err| {worst:.3e}')
    for z in ZERO_BASELINE[:6]:
        print('ZERO', z)
    print(f'check: {COUNT[0]} comparisons, {len(FAILURES)} failures')
    sys.exit(1 if FAILURES else 0)


if __name__ == '__main__':
    main()
