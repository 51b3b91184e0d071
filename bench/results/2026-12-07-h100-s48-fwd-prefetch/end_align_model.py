"""A model of end-align-d256.patch's tile arithmetic (FwdTiles::at and the consumer's w_last, fwd_tiles.cuh / fwd.cuh),
checked on the CPU against the mask for random shapes, windows and diagonal offsets: every key a row may see lies in
one of its warpgroup's blocks, every block holds at least one key some row of the tile may see, no block starts at or
below -BC, and the block count is at most the start-aligned count. Usage: python3 end_align_model.py [cases]."""
import random
import sys


def keys_for(i_first, i_last, off, wl, wr, lk):
    """mask.cuh's Mask::keys_for."""
    lo = 0 if wl < 0 else max(0, i_first + off - wl)
    hi = lk - 1 if wr < 0 else min(lk - 1, i_last + off + wr)
    return lo, hi


def tile(u, lq, lk, off, wl, wr, BR, BC, end_align_blocks):
    """FwdTiles::at: (i0, i_first, i_last, j_base, nb_first, nb_last, j_lo, j_hi)."""
    q_blocks = (lq + BR - 1) // BR
    i_last = lq - 1 - (u % q_blocks) * BR
    i0 = i_last + 1 - BR
    i_first = max(i0, 0)
    j_lo, j_hi = keys_for(i_first, i_last, off, wl, wr, lk)
    j_base = 0
    if end_align_blocks > 0 and wr >= 0 and j_hi >= j_lo and j_hi - j_lo < end_align_blocks * BC:
        overhang = (j_hi + 1) % BC
        if overhang:
            j_base = overhang - BC
    nb_first = (j_lo - j_base) // BC  # j_lo - j_base >= 0: C's division truncates the same way
    nb_last = (j_hi - j_base) // BC if j_hi >= j_lo else nb_first - 1
    return i0, i_first, i_last, j_base, nb_first, nb_last, j_lo, j_hi


def trunc_div(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def check_case(rnd, BR=128, BC=80, bound=8):
    lq, lk = rnd.randint(1, 1500), rnd.randint(1, 1500)
    off = lk - lq if rnd.random() < 0.7 else rnd.randint(-300, 300)  # bottom-right aligned, or a ring-style offset
    wl = -1 if rnd.random() < 0.5 else rnd.randint(0, 700)
    wr = rnd.choice([-1, 0, 0, 0, rnd.randint(0, 300)])
    q_blocks = (lq + BR - 1) // BR
    for u in range(q_blocks):
        i0, i_first, i_last, j_base, nb_first, nb_last, j_lo, j_hi = tile(u, lq, lk, off, wl, wr, BR, BC, bound)
        assert -BC < j_base <= 0
        start_count = (j_hi // BC - j_lo // BC + 1) if j_hi >= j_lo else 0
        count = nb_last - nb_first + 1 if j_hi >= j_lo else 0
        assert count <= start_count, (lq, lk, off, wl, wr, u, count, start_count)
        blocks = [(j_base + nb * BC, j_base + nb * BC + BC - 1) for nb in range(nb_first, nb_last + 1)]
        for lo_b, hi_b in blocks:
            assert lo_b > -BC
            assert hi_b >= j_lo and lo_b <= j_hi, 'a block with no key the tile may see'
        for row0 in (0, 64):  # the two consumer warpgroups' rows
            w_lo, w_hi = max(i0 + row0, 0), min(i0 + row0 + 63, i_last)
            wj_lo, wj_hi = keys_for(w_lo, w_hi, off, wl, wr, lk)
            if wr >= 0 or i0 + row0 < 0:
                nb_hi = trunc_div(wj_hi - j_base, BC)
                w_last = max(nb_first - 1, min(nb_last, nb_hi)) if (w_lo <= w_hi and wj_hi >= wj_lo) else nb_first - 1
            else:
                w_last = nb_last
            covered = set()
            for nb in range(nb_first, w_last + 1):
                covered.update(range(j_base + nb * BC, j_base + nb * BC + BC))
            for i in range(w_lo, w_hi + 1):
                lo = max(0 if wl < 0 else i + off - wl, 0)
                hi = min(lk - 1 if wr < 0 else i + off + wr, lk - 1)
                for j in (lo, hi) if lo <= hi else ():
                    assert j in covered, ('a key outside the warpgroup blocks', lq, lk, off, wl, wr, u, row0, i, j)
    return q_blocks


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rnd = random.Random(48)
    tiles = 0
    for bound in (8, 10 ** 6):
        for _ in range(cases):
            tiles += check_case(rnd, bound=bound)
    print(f'{2 * cases} cases, {tiles} tiles: every check held')


if __name__ == '__main__':
    main()
