// kernels/sm90/fwd_tiles.cuh's tile arithmetic (FwdTiles::at, and under FLASH_PROBE_BEST_ALIGN its
// fewest_rows_key_base) compiled for the host with g++ and checked against the mask element by element, for random
// shapes, windows and diagonal offsets at d = 128, 192 and 256: the real header, not a model of it. For each tile:
// - the base lies in (-BC, 0]; every block [nb_first, nb_last] holds a key the tile may see;
// - every key a row may see lies in its warpgroup's blocks (fwd.cuh's w_last, restated here);
// - the warpgroup blocks are no more than with blocks counted from key 0 (END-ALIGN: no more blocks in all);
// - under BEST-ALIGN, base 0 without a right mask edge, and under one no base of all BC that reads fewer K / V rows
//   without computing more warpgroup blocks.
// tests/support/cuda-host-shim.h stands in for CUDA's qualifiers and intrinsics (none of them runs here).
// Build and run (from the repository root), once per rule:
//   g++ -std=c++17 -O1 -Itests/support -Ikernels/sm90 -Ikernels/common -I/usr/local/cuda/include [-DFLASH_PROBE_BEST_ALIGN] \
//     bench/results/2026-12-08-h100-s49-end-align/fwd_tiles_host_test.cpp -o /tmp/fwd_tiles_test && /tmp/fwd_tiles_test
#include <cstdio>
#include <cstdlib>
#include <random>
#include "cuda-host-shim.h"
#include "fwd_tiles.cuh"

static long failures = 0, tiles_checked = 0, tiles_moved = 0;

static void fail(const char* what, const FlashParams& p, int u) {
  if (++failures <= 20)
    std::printf("FAIL %s: lq %d lk %d off %d window (%d, %d) tile %d\n", what, p.lq, p.lk, p.diagonal_offset,
                p.window_left, p.window_right, u);
}

// Warpgroup blocks and K / V rows read by tile t with base jb (fwd.cuh's w_last for each consumer warpgroup).
template <int D>
static void count(const FlashParams& p, const flash90::FwdTile& t, int jb, long* blocks, long* rows) {
  using F = flash90::Fwd90<D>;
  const flash::Mask mask(p);
  int64_t j_lo, j_hi;
  mask.keys_for(t.i_first, t.i_last, &j_lo, &j_hi);
  const int first = int((j_lo - jb) / F::BC), last = int((j_hi - jb) / F::BC);
  *blocks = 0;
  for (int c = 0; c < F::CONSUMERS; ++c) {
    const int w_lo = max(t.i0 + 64 * c, 0), w_hi = min(t.i0 + 64 * c + 63, t.i_last);
    int64_t a, b;
    mask.keys_for(w_lo, w_hi, &a, &b);
    if (w_lo <= w_hi && b >= a) *blocks += max(first - 1, min(last, int((b - jb) / F::BC))) - first + 1;
  }
  *rows = min<int64_t>(jb + int64_t(last + 1) * F::BC - 1, p.lk - 1) - max<int64_t>(jb + int64_t(first) * F::BC, 0) + 1;
}

template <int D>
static void check_case(std::mt19937& rnd) {
  using F = flash90::Fwd90<D>;
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rnd); };
  FlashParams p{};
  p.n = 1, p.h = 2, p.hk = 1;
  p.lq = uni(1, 1500), p.lk = uni(1, 1500);
  p.diagonal_offset = uni(0, 9) < 7 ? p.lk - p.lq : uni(-300, 300);
  p.window_left = uni(0, 1) ? -1 : uni(0, 700);
  const int wr_pick = uni(0, 4);
  p.window_right = wr_pick == 0 ? -1 : wr_pick == 4 ? uni(0, 300) : 0;
  const flash90::FwdTiles<D> tiles(p);
  const flash::Mask mask(p);
  for (int u = 0; u < tiles.count; ++u) {
    const flash90::FwdTile t = tiles.at(p, u);
    ++tiles_checked;
    if (!t.has_keys()) continue;
    if (t.j_base <= -F::BC || t.j_base > 0) fail("base out of (-BC, 0]", p, u);
    if (t.j_base != 0) ++tiles_moved;
    int64_t j_lo, j_hi;
    mask.keys_for(t.i_first, t.i_last, &j_lo, &j_hi);
    for (int nb = t.nb_first; nb <= t.nb_last; ++nb) {
      const int64_t lo = t.j_base + int64_t(nb) * F::BC, hi = lo + F::BC - 1;
      if (hi < j_lo || lo > j_hi) fail("a block with no key the tile may see", p, u);
    }
    for (int c = 0; c < F::CONSUMERS; ++c) {
      const int w_lo = max(t.i0 + 64 * c, 0), w_hi = min(t.i0 + 64 * c + 63, t.i_last);
      int64_t a, b;
      mask.keys_for(w_lo, w_hi, &a, &b);
      int w_last = t.nb_last;
      if (p.window_right >= 0 || t.i0 + 64 * c < 0)
        w_last = w_lo <= w_hi && b >= a ? max(t.nb_first - 1, min(t.nb_last, int((b - t.j_base) / F::BC)))
                                        : t.nb_first - 1;
      const int64_t covered_lo = t.j_base + int64_t(t.nb_first) * F::BC;
      const int64_t covered_hi = t.j_base + int64_t(w_last + 1) * F::BC - 1;
      for (int i = w_lo; i <= w_hi; ++i) {
        int lo, hi;
        mask.row_range(i, &lo, &hi);
        if (lo <= hi && (lo < covered_lo || hi > covered_hi)) fail("a key outside the warpgroup's blocks", p, u);
      }
    }
    long blocks, rows, blocks0, rows0;
    count<D>(p, t, t.j_base, &blocks, &rows);
    count<D>(p, t, 0, &blocks0, &rows0);
    if (F::BEST_ALIGN && p.window_right < 0) {
      if (t.j_base != 0) fail("a base below 0 without a right mask edge", p, u);
    } else if (F::BEST_ALIGN) {
      if (blocks > blocks0 || rows > rows0) fail("more blocks or rows than base 0", p, u);
      for (int a = 1; a < F::BC; ++a) {
        long bb, rr;
        count<D>(p, t, a - F::BC, &bb, &rr);
        if (bb <= blocks0 && rr < rows) fail("a base that reads fewer rows without more blocks", p, u);
      }
    } else if (t.nb_last - t.nb_first > (j_hi / F::BC - j_lo / F::BC)) {
      fail("more blocks than counted from key 0", p, u);
    }
  }
}

int main() {
  gridDim.x = 132;
  std::mt19937 rnd(49);
  for (int i = 0; i < 3000; ++i) {
    check_case<128>(rnd);
    check_case<192>(rnd);
    check_case<256>(rnd);
  }
  std::printf("%s: %ld tiles, %ld with a base below 0, %ld failures\n",
              flash90::FWD_BEST_ALIGN ? "BEST-ALIGN (d = 128, 192, 256)" : "END-ALIGN (d = 256; d = 128, 192 from key 0)",
              tiles_checked, tiles_moved, failures);
  return failures == 0 ? 0 : 1;
}
