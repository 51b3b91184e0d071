// Accumulator tiles out to global memory. A wgmma accumulator gives each thread two 4-byte pairs per row and 8
// columns: written straight from registers, a warp's store covers 16 bytes in each of 8 rows, eight half-filled
// 32-byte sectors per instruction. Staged in shared memory first (stmatrix, eight rows of 16 bytes per matrix), the
// warp reads it back 16 bytes a lane and writes whole 128-byte lines, an eighth of the store instructions and no
// partial sectors; or a TMA store writes the stage out (store_band_by_tma), whole lines, and the warp goes on while
// the copy engine works. Where no shared memory is to spare, a transpose inside each quad gives every lane 16
// contiguous bytes (store_packed_rows_by_quads): a quarter of the instructions, whole 32-byte sectors.
#pragma once
#include "ptx90.cuh"

namespace flash90 {

// Bytes of a warp's stage for 16 rows of NT n8 blocks of 16-bit elements.
template <int NT>
constexpr int staged_rows_bytes() {
  return 16 * NT * 16;
}

// Columns [8 nt0, 8 (nt0 + NT)) of a warp's 16 accumulator rows (this lane's rows g and g + 8, columns 8 nt + 2 t
// and + 1 in acc[4 nt + 2 r + e], wgmma's m64 layout restricted to one warp) times `scale`, as DT, into the warp's
// stage (staged_rows_bytes<NT>() long, free): row r's 16-byte chunk c at chunk c ^ (r % 8), so that the stmatrix
// rows of one matrix and the read-back of one row fall in different banks. With 128-byte rows (NT = 8) on a
// 1024-byte boundary this is also TMA's 128-byte swizzle. nt0 must be known at compile time once the caller is
// unrolled (acc is indexed by it).
template <class DT, int NT, int NACC>
__device__ __forceinline__ void stage_rows(uint32_t stage, const float (&acc)[NACC], int nt0, float scale, int lane) {
  static_assert(NT % 8 == 0 && 4 * NT <= NACC, "whole 128-byte rows of 8 chunks, inside the accumulator");
  constexpr int ROW_BYTES = NT * 16;
  // stmatrix x4 over blocks nt, nt + 1: matrix i holds rows 8 (i % 2) .. + 7 of block nt + i / 2.
  const int i = lane / 8, row = 8 * (i % 2) + lane % 8;
#pragma unroll
  for (int nt = 0; nt < NT; nt += 2) {
    uint32_t m[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int at = 4 * (nt0 + nt + q / 2) + 2 * (q % 2);
      m[q] = DT::pack(acc[at] * scale, acc[at + 1] * scale);
    }
    stmatrix_x4(stage + row * ROW_BYTES + (((nt + i / 2) ^ (row % 8)) * 16), m);
  }
}

// The same columns written through the stage: the warp's row r goes to dst[(row0 + r) * row_stride + col] where
// row_lo <= row0 + r < row_end and col < cols (cols a multiple of 8, dst 16-byte aligned, row_stride a multiple of
// 8). `stage` (16-byte aligned) is the warp's alone and free on entry, and free again on return.
template <class DT, int NT, int NACC>
__device__ __forceinline__ void store_rows_staged(uint32_t stage, const float (&acc)[NACC], int nt0, float scale,
                                                  typename DT::T* dst, int64_t row_stride, int row0, int row_lo,
                                                  int row_end, int cols, int lane) {
  constexpr int ROW_BYTES = NT * 16;
  stage_rows<DT, NT>(stage, acc, nt0, scale, lane);
  __syncwarp();
#pragma unroll
  for (int k = 0; k < NT / 2; ++k) {
    const int chunk = 32 * k + lane, r = chunk / NT, c = chunk % NT;
    const uint4 v = flash::ld_shared_128(stage + r * ROW_BYTES + ((c ^ (r % 8)) * 16));
    const int row = row0 + r, col = 8 * (nt0 + c);
    if (row >= row_lo && row < row_end && col < cols)
      *reinterpret_cast<uint4*>(dst + row * row_stride + col) = v;
  }
  __syncwarp();
}

// One 64-column band (columns [8 nt0, 8 nt0 + 64)) of a warp's 16 accumulator rows written by a TMA store from the
// warp's stage (1024-byte aligned, staged_rows_bytes<8>() long) into the box at (c0, c1, c2, c3) of `map` (64 columns
// x 16 rows of 16-bit elements, 128-byte swizzle). The warp's copy engine work is waited for, by lane 0, only before
// the stage is written again: the warps go on while the copy runs.
// Before the block ends, lane 0 must wait for its stores (bulk_wait_group). Rows and columns past the tensor's end
// are left out, but the box must not start before row 0: on the H200 such a store is an illegal instruction
// (measured, whether the box lies wholly or partly before row 0). The warp is converged again on return, for the
// aligned instructions (bar.sync, wgmma) that follow.
template <class DT, int NACC>
__device__ __forceinline__ void store_band_by_tma(uint32_t stage, const float (&acc)[NACC], int nt0, const void* map,
                                                  int c0, int c1, int c2, int c3, int lane) {
  if (lane == 0) bulk_wait_group_read<0>();  // the stage's previous store has read it
  __syncwarp();
  stage_rows<DT, 8>(stage, acc, nt0, 1.f, lane);
  fence_proxy_async_smem();  // the stmatrix writes (generic proxy) are seen by the copy engine (async proxy)
  __syncwarp();
  if (lane == 0) {
    tma_store_4d(map, stage, c0, c1, c2, c3);
    bulk_commit_group();
  }
  __syncwarp();
}

// A 4 x 4 transpose of 4-byte values across the 4 lanes of a quad (t: the lane's index in its quad): lane t's x[j]
// becomes lane j's x[t]. Two butterfly steps, each swapping one bit of the lane index with the same bit of j.
__device__ __forceinline__ void quad_transpose(uint32_t (&x)[4], int t) {
#pragma unroll
  for (int bit = 2; bit >= 1; bit >>= 1) {
    const bool high = t & bit;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (j & bit) continue;
      const uint32_t recv = __shfl_xor_sync(0xffffffffu, high ? x[j] : x[j | bit], bit);
      if (high)
        x[j] = recv;
      else
        x[j | bit] = recv;
    }
  }
}

// Without a stage: a warp's 16 accumulator rows, already packed as DT pairs (pk[2 nt + r]: this lane's row g + 8 r,
// columns 8 nt + 2 t and + 1), straight from registers. A quad holds 16 bytes of its row per n8 block, 4 per lane;
// transposed over four blocks, each lane holds 16 contiguous bytes and a quad writes 64 (a warp store: 8 rows x 64
// bytes, two whole sectors each where rows start on 32 bytes, where 4-byte stores wrote 8 half sectors). The warp's
// row r goes to dst[(row0 + r) * row_stride + col] where row0 + r >= 0 and col < cols (cols a multiple of 8, dst
// 16-byte aligned, row_stride a multiple of 8); rows past the end are the caller's to avoid. Every lane must call.
// cols is taken by reference and read at each store, as in the kernel this was measured in (the forward passes p.d;
// taken by value, the d = 256 forward's code changed).
template <class DT, int NPK>
__device__ __forceinline__ void store_packed_rows_by_quads(const uint32_t (&pk)[NPK], typename DT::T* dst,
                                                           int64_t row_stride, int row0, const int& cols, int lane) {
  static_assert(NPK % 16 == 0, "groups of four n8 blocks of two rows");
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + g + r * 8;
#pragma unroll
    for (int k = 0; k < NPK / 8; ++k) {
      uint32_t x[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) x[j] = pk[2 * (4 * k + j) + r];
      quad_transpose(x, t);  // every lane of the quad takes part, whatever its row
      const int col = 8 * (4 * k + t);
      if (row >= 0 && col < cols)  // rows before 0: the forward's partial first tile
        *reinterpret_cast<uint4*>(dst + row * row_stride + col) = make_uint4(x[0], x[1], x[2], x[3]);
    }
  }
}

}  // namespace flash90
