// kernels/sm90/fwd_tiles.cuh's tiles, compiled for the host: claimed(t) hands out every tile once, the tiles of a
// (batch, head) cover its query rows once, and the key blocks of each tile hold every key its rows may see (each
// consumer warpgroup up to its own last block, fwd.cuh's w_last, restated here) and no block without such a key.
// A tile missing a key would leave o and lse silently wrong for its rows; a lost or repeated tile leaves rows unwritten
// or written twice. The GPU suites see these only where a shape happens to hit them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkHostCases } from '../support/host-compile.js';

// Reads cases "d n h hk lq lk diagonal_offset window_left window_right grid" and prints, per case, "ok" or the first
// disagreement. tests/support/cuda-host-shim.h stands in for CUDA's qualifiers and intrinsics.
const DRIVER = `
#include <cstdio>
#include <vector>
#include "cuda-host-shim.h"
#include "fwd_tiles.cuh"

// The tile's key-block base where the header has one (blocks counted from it), else key 0.
template <class T> auto key_base(const T& t, int) -> decltype(int(t.j_base)) { return t.j_base; }
template <class T> int key_base(const T&, long) { return 0; }

template <int D>
static bool check(const FlashParams& p) {
  using F = flash90::Fwd90<D>;
  const flash90::FwdTiles<D> tiles(p);
  const flash::Mask mask(p);
  std::vector<int> claimed(tiles.count, 0), row_seen(size_t(p.n) * p.h * p.lq, 0);
  for (int t = 0; t < tiles.count; ++t) {
    const int u = tiles.claimed(p, t);
    if (u < 0 || u >= tiles.count || claimed[u]++) return std::printf("claimed(%d) = %d\\n", t, u), false;
  }
  for (int u = 0; u < tiles.count; ++u) {
    const flash90::FwdTile tile = tiles.at(p, u);
    if (tile.b < 0 || tile.b >= p.n || tile.head < 0 || tile.head >= p.h || tile.kh != tile.head / (p.h / p.hk) ||
        tile.i_last < 0 || tile.i_last >= p.lq || tile.i0 != tile.i_last + 1 - F::BR || tile.i_first != max(tile.i0, 0))
      return std::printf("tile %d: b %d head %d kh %d rows %d..%d\\n", u, tile.b, tile.head, tile.kh, tile.i0,
                         tile.i_last), false;
    for (int i = tile.i_first; i <= tile.i_last; ++i) ++row_seen[(size_t(tile.b) * p.h + tile.head) * p.lq + i];
    const int base = key_base(tile, 0);
    if (base <= -F::BC || base > 0) return std::printf("tile %d: key base %d\\n", u, base), false;
    int64_t j_lo, j_hi;
    mask.keys_for(tile.i_first, tile.i_last, &j_lo, &j_hi);
    for (int nb = tile.nb_first; nb <= tile.nb_last; ++nb) {
      const int64_t lo = base + int64_t(nb) * F::BC;
      if (lo + F::BC - 1 < j_lo || lo > j_hi) return std::printf("tile %d: block %d sees no key\\n", u, nb), false;
    }
    for (int c = 0; c < F::CONSUMERS; ++c) {
      const int w_lo = max(tile.i0 + 64 * c, 0), w_hi = min(tile.i0 + 64 * c + 63, tile.i_last);
      int w_last = tile.nb_last;
      if (p.window_right >= 0 || tile.i0 + 64 * c < 0) {
        int64_t a, b;
        mask.keys_for(w_lo, w_hi, &a, &b);
        w_last = w_lo <= w_hi && b >= a ? max(tile.nb_first - 1, min(tile.nb_last, int((b - base) / F::BC)))
                                        : tile.nb_first - 1;
      }
      for (int i = w_lo; i <= w_hi; ++i) {
        int lo, hi;
        mask.row_range(i, &lo, &hi);
        if (lo <= hi && (lo < base + int64_t(tile.nb_first) * F::BC || hi > base + int64_t(w_last + 1) * F::BC - 1))
          return std::printf("tile %d: row %d sees keys %d..%d outside its warpgroup's blocks\\n", u, i, lo, hi), false;
      }
    }
  }
  for (size_t r = 0; r < row_seen.size(); ++r)
    if (row_seen[r] != 1) return std::printf("row %zu in %d tiles\\n", r, row_seen[r]), false;
  return true;
}

int main() {
  FlashParams p = {};
  int d, grid;
  while (std::scanf("%d %d %d %d %d %d %d %d %d %d", &d, &p.n, &p.h, &p.hk, &p.lq, &p.lk, &p.diagonal_offset,
                    &p.window_left, &p.window_right, &grid) == 10) {
    gridDim.x = unsigned(grid);
    const bool ok = d == 64 ? check<64>(p) : d == 128 ? check<128>(p) : d == 192 ? check<192>(p) : check<256>(p);
    if (ok) std::printf("ok\\n");
  }
}
`;

type TileCase = [d: number, n: number, h: number, hk: number, lq: number, lk: number, offset: number,
  windowLeft: number, windowRight: number, grid: number];

test('FwdTiles: every tile claimed once, every row in one tile, every key a row may see in its warpgroup\'s blocks', (t) => {
  // Every head dim's tile shape; causal with the partial first tile, lq != lk, ring-style offsets, windows on
  // either side, rows without keys, GQA, and F18's reordered tail (a right edge with more than two waves of tiles).
  const fixed: TileCase[] = [
    [64, 2, 4, 2, 512, 512, 0, -1, 0, 132], [128, 1, 3, 1, 1000, 700, -300, -1, 0, 132],
    [256, 2, 2, 2, 239, 17, -222, -1, 0, 8], [128, 1, 2, 1, 300, 300, 0, 5, 0, 132],
    [192, 1, 2, 2, 200, 100, 0, 10, 10, 3], [64, 1, 2, 1, 100, 100, -50, -1, 0, 1],
    [256, 4, 8, 8, 512, 512, 0, -1, 0, 132], [64, 3, 6, 3, 777, 513, 0, 30, 7, 20],
  ];
  const random = fc.sample(
    fc.tuple(fc.constantFrom(64, 128, 192, 256), fc.integer({ min: 1, max: 3 }), fc.constantFrom(1, 2, 4),
      fc.integer({ min: 1, max: 1300 }), fc.integer({ min: 1, max: 1300 }), fc.boolean(),
      fc.integer({ min: -300, max: 300 }), fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 700 })),
      fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: 0, max: 300 })), fc.integer({ min: 1, max: 140 })),
    { seed: 49, numRuns: 400 },
  ).map(([d, n, groupSize, lq, lk, bottomRight, offset, wl, wr, grid]): TileCase =>
    [d, n, 2 * groupSize, 2, lq, lk, bottomRight ? lk - lq : offset, wl, wr, grid]);
  checkHostCases(t, DRIVER, [...fixed, ...random], 'd, n, h, hk, lq, lk, offset, window, grid');
});
