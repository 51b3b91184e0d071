// kernels/common/bwd_order.cuh's BwdOrder, compiled for the host: claimed(t) hands out every item once, and
// first_claim(group) is the claim number of the group's first item, which a paced bwd_pre_side (kernels/sm80/rows.cuh)
// waits for. Were first_claim late, the side would hold back a head the main kernel already waits on, until its stall
// guard gave up pacing.
import { test } from 'node:test';
import fc from 'fast-check';
import { checkHostCases } from '../support/host-compile.js';

// Reads cases "n hk key_blocks grid window_right" and prints, per case, "ok" or the first disagreement.
const DRIVER = `
#include <algorithm>
#include <cstdio>
#include <vector>
#include "cuda-host-shim.h"
#include "bwd_order.cuh"
int main() {
  FlashParams p = {};
  int kb, grid;
  while (std::scanf("%d %d %d %d %d", &p.n, &p.hk, &kb, &grid, &p.window_right) == 5) {
    const BwdOrder order(p, kb, grid);
    const int items = p.n * p.hk * kb, groups = p.n * p.hk;
    std::vector<int> seen(items, 0), first(groups, -1);
    bool ok = true;
    for (int t = 0; t < items && ok; ++t) {
      const int item = order.claimed(t);
      if (item < 0 || item >= items || seen[item]++) {
        std::printf("claimed(%d) = %d\\n", t, item);
        ok = false;
      } else if (first[item / kb] < 0) {
        first[item / kb] = t;
      }
    }
    for (int g = 0; g < groups && ok; ++g) {
      if (order.first_claim(g) != first[g]) {
        std::printf("first_claim(%d) = %d, first claimed %d\\n", g, order.first_claim(g), first[g]);
        ok = false;
      }
    }
    if (ok) std::printf("ok\\n");
  }
}
`;

type OrderCase = [n: number, hk: number, keyBlocks: number, grid: number, windowRight: number];

test('BwdOrder: claimed(t) is a permutation of the items, and first_claim(g) is when group g is first claimed', (t) => {
  // Both sides of every branch: no right window (in order), long heads (key_blocks >= CHUNKED_BELOW = 128), heads
  // in one chunk or several (KEY_CHUNK = 16), with a tail (key_blocks <= TAILED_UPTO = 8) of every head or some.
  const fixed: OrderCase[] = [[2, 3, 4, 132, 0], [1, 40, 4, 120, 0], [3, 7, 20, 100, 0], [2, 5, 130, 132, 0],
    [2, 5, 4, 132, -1], [1, 1, 1, 1, 0], [4, 9, 8, 120, 0], [4, 9, 9, 120, 0], [32, 16, 4, 108, 0]];
  const random = fc.sample(
    fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 140 }),
      fc.integer({ min: 1, max: 140 }), fc.constantFrom(-1, 0, 3)),
    { seed: 38, numRuns: 300 },
  );
  checkHostCases(t, DRIVER, [...fixed, ...random], 'n, hk, key_blocks, grid, window_right', { cudaHeaders: false });
});
