// The attention mask of params.h as ranges: which keys a block of queries can see, which queries a block of
// keys is seen by, and whether a (query block, key block) tile needs per-element masking at all.
// All arithmetic is 64-bit: lengths are int32 but their sums and differences may not be.
#pragma once
#include "params.h"

namespace flash {

struct Mask {
  int64_t off;  // diagonal_offset
  int wl, wr;   // window_left / window_right, negative = unbounded
  int lq, lk;

  __device__ __forceinline__ explicit Mask(const FlashParams& p)
      : off(p.diagonal_offset), wl(p.window_left), wr(p.window_right), lq(p.lq), lk(p.lk) {}

  // Keys any query in [i_first, i_last] may see: [*j_lo, *j_hi] (empty when *j_lo > *j_hi).
  __device__ __forceinline__ void keys_for(int i_first, int i_last, int64_t* j_lo, int64_t* j_hi) const {
    *j_lo = wl < 0 ? 0 : max(int64_t(0), i_first + off - wl);
    *j_hi = wr < 0 ? int64_t(lk) - 1 : min(int64_t(lk) - 1, i_last + off + wr);
  }
  // Queries that may see any key in [j_first, j_last]: [*i_lo, *i_hi].
  __device__ __forceinline__ void queries_for(int j_first, int j_last, int64_t* i_lo, int64_t* i_hi) const {
    *i_lo = wr < 0 ? 0 : max(int64_t(0), j_first - off - wr);
    *i_hi = wl < 0 ? int64_t(lq) - 1 : min(int64_t(lq) - 1, j_last - off + wl);
  }
  // True unless every pair of queries [i_first, i_last] x keys [j_first, j_last] is allowed and in range.
  __device__ __forceinline__ bool tile_needs_mask(int i_first, int i_last, int j_first, int j_last) const {
    return j_last >= lk || i_last >= lq || (wr >= 0 && j_last > i_first + off + wr) ||
           (wl >= 0 && j_first < i_last + off - wl);
  }
  // Keys query i may see, clamped to [0, lk): [*lo, *hi] (empty when *lo > *hi, e.g. for i >= lq).
  __device__ __forceinline__ void row_range(int i, int* lo, int* hi) const {
    int64_t l = wl < 0 ? 0 : i + off - wl, h = wr < 0 ? int64_t(lk) - 1 : i + off + wr;
    if (i >= lq) h = -1;
    *lo = int(min(max(l, int64_t(0)), int64_t(lk)));
    *hi = int(max(min(h, int64_t(lk) - 1), int64_t(-1)));
  }
  // Queries that may see key j, clamped to [0, lq): [*lo, *hi] (empty when *lo > *hi, e.g. for j >= lk).
  __device__ __forceinline__ void col_range(int j, int* lo, int* hi) const {
    int64_t l = wr < 0 ? 0 : j - off - wr, h = wl < 0 ? int64_t(lq) - 1 : j - off + wl;
    if (j >= lk) h = -1;
    *lo = int(min(max(l, int64_t(0)), int64_t(lq)));
    *hi = int(max(min(h, int64_t(lq) - 1), int64_t(-1)));
  }
};

}  // namespace flash
