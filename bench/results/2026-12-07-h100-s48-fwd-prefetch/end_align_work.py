"""END-ALIGN's work and traffic, counted (CPU; the model's arithmetic from end_align_model.py): for the standard grid's
causal tiles (lq = lk = l), the warpgroup blocks computed (a warpgroup skips key blocks past its own rows' last key,
fwd.cuh's w_last) and the K / V rows read from memory (zero fill below key 0 and past lk reads none), with key blocks
start-aligned (main), end-aligned (the probe), split-aligned (a block boundary at the last warpgroup's first row),
and, per tile, the alignment with the fewest rows among those that compute no more blocks than main.
Usage: python3 end_align_work.py."""
from end_align_model import keys_for, trunc_div  # this file's folder is on sys.path when it runs as a script

SHAPES = (('d64', 192, 128, 3), ('d128', 128, 176, 2), ('d256', 128, 80, 2))  # name, BR, BC, consumer warpgroups


def tile_cost(l, BR, BC, cons, u, anchor):
    """(warpgroup blocks computed, K / V rows read) of causal tile u, with a block boundary at key anchor(i0, j_hi)."""
    i_last = l - 1 - u * BR
    i0 = i_last + 1 - BR
    j_lo, j_hi = keys_for(max(i0, 0), i_last, 0, -1, 0, l)
    a = anchor(i0, j_hi)
    j_base = (a % BC) - BC if a % BC else 0
    nbf, nbl = (j_lo - j_base) // BC, (j_hi - j_base) // BC
    starts = [j_base + nb * BC for nb in range(nbf, nbl + 1)]
    rows = sum(max(0, min(lo + BC - 1, l - 1) - max(lo, 0) + 1) for lo in starts)
    wg = 0
    for c in range(cons):
        w_lo, w_hi = max(i0 + 64 * c, 0), min(i0 + 64 * c + 63, i_last)
        if w_lo > w_hi:
            continue
        _, b = keys_for(w_lo, w_hi, 0, -1, 0, l)
        wg += max(nbf - 1, min(nbl, trunc_div(b - j_base, BC))) - nbf + 1
    return wg, rows


def total(l, BR, BC, cons, anchor):
    costs = [tile_cost(l, BR, BC, cons, u, anchor) for u in range((l + BR - 1) // BR)]
    return sum(c[0] for c in costs), sum(c[1] for c in costs)


def change(new, old):
    return f'{100 * (new[0] - old[0]) / old[0]:+.1f}% / {100 * (new[1] - old[1]) / old[1]:+.1f}%'


def main():
    for name, BR, BC, cons in SHAPES:
        anchors = {'end': lambda i0, j_hi: j_hi + 1, 'split': lambda i0, j_hi: min(j_hi + 1, i0 + BR - 64)}
        for l in (512, 1024, 2048, 4096):
            s = total(l, BR, BC, cons, lambda i0, j_hi: 0)
            out = [f'{name} l={l:5d} start {s[0]} blocks {s[1]} rows']
            out += [f'{m} {change(total(l, BR, BC, cons, a), s)}' for m, a in anchors.items()]
            print(' | '.join(out))
    print('per tile, the anchor with the fewest K / V rows among those with no more warpgroup blocks than '
          'start-aligned:')
    for name, BR, BC, cons in SHAPES:
        for l in (512, 1024, 2048):
            S, B = [0, 0], [0, 0]
            for u in range((l + BR - 1) // BR):
                s = tile_cost(l, BR, BC, cons, u, lambda i0, j_hi: 0)
                best = min((tile_cost(l, BR, BC, cons, u, lambda i0, j_hi, a=a: a) for a in range(BC)),
                           key=lambda c: (c[0] > s[0], c[1], c[0]))
                S = [S[0] + s[0], S[1] + s[1]]
                B = [B[0] + best[0], B[1] + best[1]]
            print(f'{name} l={l}: blocks {100*(B[0]-S[0])/S[0]:+.1f}%, rows {100*(B[1]-S[1])/S[1]:+.1f}%')


main()
