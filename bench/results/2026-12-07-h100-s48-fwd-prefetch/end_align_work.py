"""END-ALIGN's work and traffic, counted (CPU; the model's arithmetic from end_align_model.py): for the standard grid's
causal tiles (lq = lk = l), the warpgroup blocks computed (a warpgroup skips key blocks past its own rows' last key,
fwd.cuh's w_last) and the K / V rows read from memory (zero fill below key 0 and past lk reads none), with key blocks
start-aligned (main), end-aligned (the probe), split-aligned (a block boundary at the last warpgroup's first row),
and, per tile, the alignment with the fewest rows among those that compute no more blocks than main.
Usage: python3 end_align_work.py (from the repository root)."""
import os
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'end_align_model.py')).read().replace('\nmain()\n', '\n')
ns = {}; exec(compile(src, 'm', 'exec'), ns)
keys_for, trunc_div = ns['keys_for'], ns['trunc_div']
def work(l, BR, BC, cons, mode):
    wg_blocks = rows_read = 0
    q_blocks = (l + BR - 1) // BR
    for u in range(q_blocks):
        i_last = l - 1 - u * BR; i0 = i_last + 1 - BR; i_first = max(i0, 0)
        j_lo, j_hi = keys_for(i_first, i_last, 0, -1, 0, l)
        anchor = {'start': 0, 'end': j_hi + 1, 'split': min(j_hi + 1, i0 + BR - 64)}[mode]
        j_base = (anchor % BC) - BC if anchor % BC else 0
        nbf, nbl = (j_lo - j_base) // BC, (j_hi - j_base) // BC
        for nb in range(nbf, nbl + 1):
            lo = j_base + nb * BC; rows_read += max(0, min(lo + BC - 1, l - 1) - max(lo, 0) + 1)
        for c in range(cons):
            w_lo, w_hi = max(i0 + 64 * c, 0), min(i0 + 64 * c + 63, i_last)
            if w_lo > w_hi: continue
            a, b = keys_for(w_lo, w_hi, 0, -1, 0, l)
            wl = max(nbf - 1, min(nbl, trunc_div(b - j_base, BC)))
            wg_blocks += wl - nbf + 1
    return wg_blocks, rows_read
for name, BR, BC, cons in (('d64', 192, 128, 3), ('d128', 128, 176, 2), ('d256', 128, 80, 2)):
    for l in (512, 1024, 2048, 4096):
        s = work(l, BR, BC, cons, 'start')
        out = [f'{name} l={l:5d} start {s[0]} blocks {s[1]} rows']
        for m in ('end', 'split'):
            e = work(l, BR, BC, cons, m)
            out.append(f'{m} {100*(e[0]-s[0])/s[0]:+.1f}% / {100*(e[1]-s[1])/s[1]:+.1f}%')
        print(' | '.join(out))
print('per tile, the anchor with the fewest K / V rows among those with no more warpgroup blocks than start-aligned:')
def tile_cost(l, BR, BC, cons, u, anchor):
    i_last = l - 1 - u * BR; i0 = i_last + 1 - BR; i_first = max(i0, 0)
    j_lo, j_hi = keys_for(i_first, i_last, 0, -1, 0, l)
    j_base = (anchor % BC) - BC if anchor % BC else 0
    nbf, nbl = (j_lo - j_base) // BC, (j_hi - j_base) // BC
    rows = sum(max(0, min(j_base + nb * BC + BC - 1, l - 1) - max(j_base + nb * BC, 0) + 1) for nb in range(nbf, nbl + 1))
    wg = 0
    for c in range(cons):
        w_lo, w_hi = max(i0 + 64 * c, 0), min(i0 + 64 * c + 63, i_last)
        if w_lo > w_hi: continue
        a, b = keys_for(w_lo, w_hi, 0, -1, 0, l)
        wg += max(nbf - 1, min(nbl, trunc_div(b - j_base, BC))) - nbf + 1
    return wg, rows
for name, BR, BC, cons in (('d64', 192, 128, 3), ('d128', 128, 176, 2), ('d256', 128, 80, 2)):
    for l in (512, 1024, 2048):
        S = [0, 0]; B = [0, 0]
        for u in range((l + BR - 1) // BR):
            s = tile_cost(l, BR, BC, cons, u, 0)
            best = min((tile_cost(l, BR, BC, cons, u, a) for a in range(BC)), key=lambda c: (c[0] > s[0], c[1], c[0]))
            S[0] += s[0]; S[1] += s[1]; B[0] += best[0]; B[1] += best[1]
        print(f'{name} l={l}: blocks {100*(B[0]-S[0])/S[0]:+.1f}%, rows {100*(B[1]-S[1])/S[1]:+.1f}%')
