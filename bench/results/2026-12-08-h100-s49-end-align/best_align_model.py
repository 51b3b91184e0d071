"""BEST-ALIGN's tile arithmetic on the CPU (the probe FLASH_PROBE_BEST_ALIGN, kernels/sm90/fwd_tiles.cuh): under a
right mask edge, each forward tile counts its key blocks from the base that reads the fewest K / V rows among those
that compute no more warpgroup blocks than blocks counted from key 0, choosing among a few candidate bases (the
kernel's rule) rather than all BC of them. Checked here, for random shapes, windows and diagonal offsets at each
head dim's BR / BC / consumer count:
- the candidates find the fewest rows that a search over every base finds (under the same block constraint);
- the chosen base computes no more warpgroup blocks than key-0 blocks, and reads no more rows;
- every key a row may see lies in its warpgroup's blocks, every block holds a key the tile may see, no block starts
  at or below -BC (session 48's end_align_model.py checks, on this rule's bases).
Then the standard grid's causal rows: warpgroup blocks and K / V rows read against key-0 blocks.
Usage: python3 best_align_model.py [cases]."""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '2026-12-07-h100-s48-fwd-prefetch'))
from end_align_model import keys_for, trunc_div  # noqa: E402

SHAPES = (('d64', 3, 128), ('d128', 2, 176), ('d256', 2, 80))  # name, consumer warpgroups (64 rows each), BC


def warpgroup_last_keys(i0, i_last, cons, off, wl, wr, lk):
    """Each consumer warpgroup's last key, or None where its rows see no key (the consumer's w_last inputs)."""
    out = []
    for c in range(cons):
        w_lo, w_hi = max(i0 + 64 * c, 0), min(i0 + 64 * c + 63, i_last)
        a, b = keys_for(w_lo, w_hi, off, wl, wr, lk)
        out.append(b if w_lo <= w_hi and b >= a else None)
    return out


def cost(jb, j_lo, j_hi, last_keys, lk, BC):
    """(warpgroup blocks, K / V rows read) with key block nb = keys [jb + nb * BC, jb + (nb + 1) * BC)."""
    first, last = (j_lo - jb) // BC, (j_hi - jb) // BC
    blocks = sum(max(first - 1, min(last, trunc_div(e - jb, BC))) - first + 1 for e in last_keys if e is not None)
    rows = min(jb + (last + 1) * BC - 1, lk - 1) - max(jb + first * BC, 0) + 1
    return blocks, rows


def base_of(a, BC):
    return a - BC if a else 0


def kernel_base(j_lo, j_hi, last_keys, lk, BC):
    """The kernel's rule: the candidate bases, best = fewest rows, then fewest blocks; key 0's base unless better."""
    start = cost(0, j_lo, j_hi, last_keys, lk, BC)
    best, best_jb = start, 0
    cands = [j_hi + 1, j_lo, j_lo + 1, lk] + [e + k for e in last_keys if e is not None for k in (0, 1)]
    for x in cands:
        jb = base_of(x % BC, BC)
        c = cost(jb, j_lo, j_hi, last_keys, lk, BC)
        if c[0] <= start[0] and (c[1], c[0]) < (best[1], best[0]):
            best, best_jb = c, jb
    return best_jb


def search_rows(j_lo, j_hi, last_keys, lk, BC):
    """The fewest rows over every base that computes no more blocks than key 0's."""
    start = cost(0, j_lo, j_hi, last_keys, lk, BC)
    return min(c[1] for c in (cost(base_of(a, BC), j_lo, j_hi, last_keys, lk, BC) for a in range(BC))
               if c[0] <= start[0])


def check_case(rnd, cons, BC):
    BR = 64 * cons
    lq, lk = rnd.randint(1, 1500), rnd.randint(1, 1500)
    off = lk - lq if rnd.random() < 0.7 else rnd.randint(-300, 300)
    wl = -1 if rnd.random() < 0.5 else rnd.randint(0, 700)
    wr = rnd.choice([0, 0, 0, rnd.randint(0, 300)])  # the rule applies under a right edge only
    q_blocks = (lq + BR - 1) // BR
    for u in range(q_blocks):
        i_last = lq - 1 - u * BR
        i0 = i_last + 1 - BR
        j_lo, j_hi = keys_for(max(i0, 0), i_last, off, wl, wr, lk)
        if j_hi < j_lo:
            continue
        last_keys = warpgroup_last_keys(i0, i_last, cons, off, wl, wr, lk)
        jb = kernel_base(j_lo, j_hi, last_keys, lk, BC)
        assert -BC < jb <= 0
        start, chosen = cost(0, j_lo, j_hi, last_keys, lk, BC), cost(jb, j_lo, j_hi, last_keys, lk, BC)
        assert chosen[0] <= start[0] and chosen[1] <= start[1]
        assert chosen[1] == search_rows(j_lo, j_hi, last_keys, lk, BC), ('not the fewest rows', lq, lk, off, wl, wr, u)
        nb_first, nb_last = (j_lo - jb) // BC, (j_hi - jb) // BC
        for nb in range(nb_first, nb_last + 1):
            assert j_base_ok(jb + nb * BC, jb + nb * BC + BC - 1, j_lo, j_hi, BC)
        for c in range(cons):
            w_lo, w_hi = max(i0 + 64 * c, 0), min(i0 + 64 * c + 63, i_last)
            e = last_keys[c]
            w_last = max(nb_first - 1, min(nb_last, trunc_div(e - jb, BC))) if e is not None else nb_first - 1
            lo_key, hi_key = jb + nb_first * BC, jb + (w_last + 1) * BC - 1
            for i in range(w_lo, w_hi + 1):
                lo = max(0 if wl < 0 else i + off - wl, 0)
                hi = min(i + off + wr, lk - 1)
                if lo <= hi:
                    assert lo_key <= lo and hi <= hi_key, ('a key outside the warpgroup blocks', lq, lk, off, u, c, i)
    return q_blocks


def j_base_ok(lo_b, hi_b, j_lo, j_hi, BC):
    return lo_b > -BC and hi_b >= j_lo and lo_b <= j_hi


def grid_counts():
    for name, cons, BC in SHAPES:
        BR = 64 * cons
        for l in (512, 1024, 2048, 4096):
            S, B, moved = [0, 0], [0, 0], 0
            for u in range((l + BR - 1) // BR):
                i_last = l - 1 - u * BR
                i0 = i_last + 1 - BR
                j_lo, j_hi = keys_for(max(i0, 0), i_last, 0, -1, 0, l)
                last_keys = warpgroup_last_keys(i0, i_last, cons, 0, -1, 0, l)
                jb = kernel_base(j_lo, j_hi, last_keys, l, BC)
                moved += jb != 0
                s, b = cost(0, j_lo, j_hi, last_keys, l, BC), cost(jb, j_lo, j_hi, last_keys, l, BC)
                S, B = [S[0] + s[0], S[1] + s[1]], [B[0] + b[0], B[1] + b[1]]
            tiles = (l + BR - 1) // BR
            print(f'{name} causal {l:5d}: blocks {S[0]} -> {B[0]} ({100 * (B[0] - S[0]) / S[0]:+.1f}%), '
                  f'rows {S[1]} -> {B[1]} ({100 * (B[1] - S[1]) / S[1]:+.1f}%), {moved} of {tiles} tiles off key 0')


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rnd = random.Random(49)
    tiles = 0
    for _, cons, BC in SHAPES:
        for _ in range(cases):
            tiles += check_case(rnd, cons, BC)
    print(f'{len(SHAPES) * cases} cases, {tiles} tiles: every check held')
    grid_counts()


if __name__ == '__main__':
    main()
