// kernels/sm90/bwd_tiles.cuh's items, compiled for the host for each Hopper backward layout (bwd.cuh at d = 64, 128;
// bwd_wide.cuh at d = 256): the items of a call are its key blocks, each once; an item's steps walk every query head of
// its GQA group over the same query blocks; and those blocks hold every query that may see one of the item's keys,
// with no block whose queries see none. A query left out would lose its share of dK / dV and dQ silently.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkHostCases } from '../support/host-compile.js';

// Reads cases "d n h hk lq lk diagonal_offset window_left window_right" and prints, per case, "ok" or the first
// disagreement. tests/support/cuda-host-shim.h stands in for CUDA's qualifiers and intrinsics.
const DRIVER = `
#include <cstdio>
#include <vector>
#include "cuda-host-shim.h"
#include "bwd.cuh"
#include "bwd_wide.cuh"
namespace flash90 {
alignas(1024) uint8_t flash90_bwd_smem[1024];  // the dynamic window bwd_window_base aligns (never written here)
}

template <class F>
static bool check(const FlashParams& p) {
  const flash::Mask mask(p);
  const int key_blocks = flash90::bwd_key_blocks<F>(p), group = p.h / p.hk;
  std::vector<int> seen(size_t(p.n) * p.hk * key_blocks, 0);
  for (int item = 0; item < p.n * p.hk * key_blocks; ++item) {
    const flash90::BwdBlock<F> blk = flash90::bwd_item<F>(p, item, 0, 0);
    if (blk.b < 0 || blk.b >= p.n || blk.kh < 0 || blk.kh >= p.hk || blk.j0 % F::BC != 0 || blk.j0 < 0 ||
        blk.j0 >= p.lk || blk.group != group || blk.steps != blk.blocks_per_head * group)
      return std::printf("item %d: b %d kh %d j0 %d group %d steps %d\\n", item, blk.b, blk.kh, blk.j0, blk.group,
                         blk.steps), false;
    if (seen[(size_t(blk.b) * p.hk + blk.kh) * key_blocks + blk.j0 / F::BC]++)
      return std::printf("item %d: keys %d of (%d, %d) twice\\n", item, blk.j0, blk.b, blk.kh), false;
    const int j_last = std::min(blk.j0 + F::BC, p.lk) - 1;
    // The queries that may see one of the item's keys, and the rows the item's steps walk for each head.
    int i_min = p.lq, i_max = -1;
    for (int i = 0; i < p.lq; ++i) {
      int lo, hi;
      mask.row_range(i, &lo, &hi);
      if (lo <= hi && lo <= j_last && hi >= blk.j0) i_min = std::min(i_min, i), i_max = std::max(i_max, i);
    }
    for (int st = 0; st < blk.steps; ++st) {
      const int head = blk.head_of(st), row = blk.row_of(st);
      if (head != blk.kh * group + st / blk.blocks_per_head || row < 0 || row % F::BR != 0)
        return std::printf("item %d step %d: head %d row %d\\n", item, st, head, row), false;
      if (row + F::BR - 1 < i_min || row > i_max)
        return std::printf("item %d step %d: rows %d.. see none of keys %d..%d\\n", item, st, row, blk.j0, j_last),
               false;
    }
    if (i_max >= 0 && blk.steps == 0) {
      return std::printf("item %d: no steps, but queries %d..%d see keys %d..%d\\n", item, i_min, i_max, blk.j0,
                         j_last), false;
    } else if (i_max >= 0) {
      const int first = blk.row_of(0), last = blk.row_of(blk.blocks_per_head - 1) + F::BR - 1;
      if (i_min < first || i_max > last)
        return std::printf("item %d: queries %d..%d see keys %d..%d, steps walk rows %d..%d\\n", item, i_min, i_max,
                           blk.j0, j_last, first, last), false;
    } else if (blk.steps != 0) {
      return std::printf("item %d: %d steps, but no query sees keys %d..%d\\n", item, blk.steps, blk.j0, j_last), false;
    }
  }
  return true;
}

int main() {
  FlashParams p = {};
  int d;
  while (std::scanf("%d %d %d %d %d %d %d %d %d", &d, &p.n, &p.h, &p.hk, &p.lq, &p.lk, &p.diagonal_offset,
                    &p.window_left, &p.window_right) == 9) {
    const bool ok = d == 64    ? check<flash90::Bwd90<64>>(p)
                    : d == 128 ? check<flash90::Bwd90<128>>(p)
                               : check<flash90::Bwd90Wide<256>>(p);
    if (ok) std::printf("ok\\n");
  }
}
`;

type ItemCase = [d: number, n: number, h: number, hk: number, lq: number, lk: number, offset: number,
  windowLeft: number, windowRight: number];

test('Hopper backward items: every key block once, and its steps hold every query that may see its keys', (t) => {
  // Causal with lq != lk, ring-style offsets, windows on either side or both, keys no query sees, GQA, a partial
  // last key block (d = 256's 80 keys at l = 512).
  const fixed: ItemCase[] = [
    [64, 2, 4, 2, 512, 512, 0, -1, 0], [128, 1, 3, 1, 1000, 700, -300, -1, 0], [256, 2, 2, 2, 239, 17, -222, -1, 0],
    [128, 1, 2, 1, 300, 300, 0, 5, 0], [256, 1, 2, 2, 200, 100, 0, 10, 10], [64, 1, 2, 1, 100, 100, -50, -1, 0],
    [256, 4, 8, 8, 512, 512, 0, -1, -1], [64, 3, 6, 3, 777, 513, 0, 30, 7], [128, 1, 4, 2, 100, 100, 150, 4, -1],
  ];
  const random = fc.sample(
    fc.tuple(fc.constantFrom(64, 128, 256), fc.integer({ min: 1, max: 2 }), fc.constantFrom(1, 2, 4),
      fc.integer({ min: 1, max: 1100 }), fc.integer({ min: 1, max: 1100 }), fc.boolean(),
      fc.integer({ min: -300, max: 300 }), fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 700 })),
      fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: 0, max: 300 }))),
    { seed: 49, numRuns: 300 },
  ).map(([d, n, groupSize, lq, lk, bottomRight, offset, wl, wr]): ItemCase =>
    [d, n, 2 * groupSize, 2, lq, lk, bottomRight ? lk - lq : offset, wl, wr]);
  checkHostCases(t, DRIVER, [...fixed, ...random], 'd, n, h, hk, lq, lk, offset, window');
});
