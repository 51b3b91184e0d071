// Shared-memory tiles of 16-bit elements and the warp-level fragment loads that feed mma.m16n8k16.
//
// A tile is ROWS x COLS elements stored as 16-byte chunks (8 elements). Columns are grouped in bands of 64
// (128 bytes, all 32 banks); inside a band, chunk c of row r lives at slot c ^ (r % 8), so the 8 row addresses
// of one ldmatrix matrix (same chunk, 8 consecutive rows) hit 8 different bank groups. A trailing band of 32
// columns (head dims 32, 96, 160, 224) holds two rows per 128 bytes and uses slot c ^ ((r / 2) % 4).
#pragma once
#include "ptx.cuh"
#include "dtype.cuh"

namespace flash {

template <int ROWS_, int COLS_>
struct SmemTile {
  static constexpr int ROWS = ROWS_;
  static constexpr int COLS = COLS_;
  static constexpr int CHUNKS = COLS / 8;
  static constexpr int BYTES = ROWS * COLS * 2;
  static_assert(COLS % 32 == 0, "tile columns must be a multiple of 32");
  static_assert(ROWS % 16 == 0, "tile rows must be a multiple of 16");

  // Byte offset of (row, chunk) from the tile's start.
  static __device__ __forceinline__ uint32_t offset(int row, int chunk) {
    const int band = chunk >> 3;
    const int c = chunk & 7;
    if (CHUNKS % 8 == 0 || band * 8 + 8 <= CHUNKS) return uint32_t((band * ROWS * 8 + row * 8 + (c ^ (row & 7))) * 16);
    return uint32_t((band * ROWS * 8 + row * 4 + (c ^ ((row >> 1) & 3))) * 16);
  }
};

// Fragment loads for one warp. Notation: A is MxK row-major, B is KxN; mma wants A as 4 registers and B as
// 2 registers per 8 columns. Each loader fills 4 registers: A for a 16x16 block, or B for two 8-column
// n-tiles (regs 0,1 for n0..n0+7 and regs 2,3 for n0+8..n0+15) of a 16-deep k block.
//   lane l gives the address of row (l % 8) of matrix (l / 8).

// A block (m0.., k0..) from a tile stored as A [m][k].
template <class Tile>
__device__ __forceinline__ void ldsm_a(uint32_t r[4], uint32_t base, int m0, int k0) {
  const int lane = threadIdx.x & 31, i = lane >> 3;
  ldmatrix_x4(r, base + Tile::offset(m0 + (lane & 7) + (i & 1) * 8, (k0 >> 3) + (i >> 1)));
}
// A block (m0.., k0..) from a tile stored transposed, as A^T [k][m].
template <class Tile>
__device__ __forceinline__ void ldsm_a_trans(uint32_t r[4], uint32_t base, int m0, int k0) {
  const int lane = threadIdx.x & 31, i = lane >> 3;
  ldmatrix_x4_trans(r, base + Tile::offset(k0 + (lane & 7) + (i >> 1) * 8, (m0 >> 3) + (i & 1)));
}
// B block (k0.., n0..n0+15) from a tile stored as B^T [n][k] (e.g. K for S = Q K^T).
template <class Tile>
__device__ __forceinline__ void ldsm_b(uint32_t r[4], uint32_t base, int k0, int n0) {
  const int lane = threadIdx.x & 31, i = lane >> 3;
  ldmatrix_x4(r, base + Tile::offset(n0 + (lane & 7) + (i >> 1) * 8, (k0 >> 3) + (i & 1)));
}
// B block (k0.., n0..n0+15) from a tile stored as B [k][n] (e.g. V for O = P V).
template <class Tile>
__device__ __forceinline__ void ldsm_b_trans(uint32_t r[4], uint32_t base, int k0, int n0) {
  const int lane = threadIdx.x & 31, i = lane >> 3;
  ldmatrix_x4_trans(r, base + Tile::offset(k0 + (lane & 7) + (i & 1) * 8, (n0 >> 3) + (i >> 1)));
}

// Copies rows [0, rows_valid) x columns [0, d) of a global row-major matrix (row stride in elements) into a
// Tile; every other element of the tile becomes zero, so padded rows and columns add nothing to a product.
// vec: d % 8 == 0 and the base is 16-byte aligned -> asynchronous 16-byte copies (the caller commits and
// waits); otherwise element-wise loads, stored synchronously.
template <class Tile, int THREADS, class DT>
__device__ __forceinline__ void load_tile(uint32_t smem, const typename DT::T* g, int64_t row_stride, int rows_valid,
                                          int d, bool vec) {
  constexpr int TOTAL = Tile::ROWS * Tile::CHUNKS;
  // Fast path: each thread keeps one chunk column and steps ROWS_PER_PASS rows. When that is a multiple of 8 the
  // swizzle phase never changes; when it divides 8 (e.g. 128 threads over 32 chunks: 4 rows) the phase cycles
  // through 8 / ROWS_PER_PASS values, whose addresses are computed once. Either way both addresses then advance
  // by constants (no per-pass index or 64-bit multiply).
  constexpr int ROWS_PER_PASS = THREADS % Tile::CHUNKS == 0 ? THREADS / Tile::CHUNKS : 0;
  constexpr bool FIXED_COLUMN = ROWS_PER_PASS > 0 && (ROWS_PER_PASS % 8 == 0 || 8 % ROWS_PER_PASS == 0) &&
                                Tile::ROWS % ROWS_PER_PASS == 0;
  const int tid = threadIdx.x;
  if (vec && FIXED_COLUMN) {
    constexpr int RPP = FIXED_COLUMN ? ROWS_PER_PASS : 8;
    constexpr int PHASES = RPP % 8 == 0 ? 1 : 8 / RPP;  // passes before the swizzle phase repeats
    const int chunk = tid % Tile::CHUNKS, row0 = tid / Tile::CHUNKS;
    uint32_t dst[PHASES];
#pragma unroll
    for (int ph = 0; ph < PHASES; ++ph) dst[ph] = smem + Tile::offset(row0 + ph * RPP, chunk);
    // A band row is 128 bytes (64 for a trailing 32-column band); the phase repeats every PHASES * RPP rows.
    const uint32_t row_bytes = Tile::CHUNKS % 8 == 0 || chunk < (Tile::CHUNKS & ~7) ? 128 : 64;
    const uint32_t cycle_bytes = PHASES * RPP * row_bytes;
    const typename DT::T* src = g + row0 * row_stride + chunk * 8;
    const bool col_ok = chunk * 8 < d;
#pragma unroll
    for (int k = 0; k < Tile::ROWS / RPP; ++k) {
      const bool ok = col_ok && row0 + k * RPP < rows_valid;
      cp_async_16(dst[k % PHASES] + (k / PHASES) * cycle_bytes, ok ? src : g, ok ? 16 : 0);
      src += RPP * row_stride;
    }
  } else if (vec) {
#pragma unroll 4
    for (int idx = tid; idx < TOTAL; idx += THREADS) {
      const int row = idx / Tile::CHUNKS, chunk = idx % Tile::CHUNKS;
      const bool ok = row < rows_valid && chunk * 8 < d;
      const typename DT::T* src = ok ? g + row * row_stride + chunk * 8 : g;
      cp_async_16(smem + Tile::offset(row, chunk), src, ok ? 16 : 0);
    }
  } else {
    const uint16_t* g16 = reinterpret_cast<const uint16_t*>(g);
    for (int idx = tid; idx < TOTAL; idx += THREADS) {
      const int row = idx / Tile::CHUNKS, chunk = idx % Tile::CHUNKS;
      uint32_t w[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c0 = chunk * 8 + 2 * e;
        const uint32_t lo = (row < rows_valid && c0 < d) ? g16[row * row_stride + c0] : 0u;
        const uint32_t hi = (row < rows_valid && c0 + 1 < d) ? g16[row * row_stride + c0 + 1] : 0u;
        w[e] = lo | (hi << 16);
      }
      st_shared_128(smem + Tile::offset(row, chunk), make_uint4(w[0], w[1], w[2], w[3]));
    }
  }
}

}  // namespace flash
