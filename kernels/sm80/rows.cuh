// The two small backward passes, one warp per (row, head):
//   bwd_pre: D_i = dot(dout_i, o_i) in float32 into softmax_d, and dq_accum row i = 0.
//   bwd_dq:  dq_i = softmax_scale * dq_accum_i, rounded to dtype (or float32 when out_float32).
// Both only move memory, so what matters is how many bytes each SM has in flight. Where d is a multiple of 4
// and the pointers allow it, a lane moves four columns per access (8 bytes of 16-bit data, 16 of float32)
// and a warp issues the loads of all its rows before using any; otherwise one column per lane and access.
#pragma once
#include "params.h"
#include "../common/dtype.cuh"
#include "config.cuh"

namespace flash {

struct RowGeometry {
  static constexpr int ROWS_PER_WARP = RowConfig::ROWS / RowConfig::WARPS;
  /** Columns one warp covers per vector access: 32 lanes x 4. */
  static constexpr int VECTOR_COLUMNS = 128;
};

// FlashParams carries device addresses as integers.
__device__ __forceinline__ bool aligned_to(uint64_t address, uint64_t bytes) { return (address & (bytes - 1)) == 0; }

// Four 16-bit values from 8 bytes, as floats.
template <class DT>
__device__ __forceinline__ void unpack4(uint2 bits, float (&x)[4]) {
  const typename DT::T* e = reinterpret_cast<const typename DT::T*>(&bits);
#pragma unroll
  for (int i = 0; i < 4; ++i) x[i] = DT::to_float(e[i]);
}

template <class DT, int HEAD_DIM>
__device__ __forceinline__ void bwd_pre_vector(const FlashParams& p) {
  using G = RowGeometry;
  constexpr int CHUNKS = (HEAD_DIM + G::VECTOR_COLUMNS - 1) / G::VECTOR_COLUMNS;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = blockIdx.y, b = blockIdx.z;
  const int first_row = blockIdx.x * RowConfig::ROWS + warp * G::ROWS_PER_WARP;
  uint2 dout_bits[G::ROWS_PER_WARP][CHUNKS], o_bits[G::ROWS_PER_WARP][CHUNKS];
#pragma unroll
  for (int rr = 0; rr < G::ROWS_PER_WARP; ++rr) {
    const int64_t base = ((int64_t(b) * p.lq + first_row + rr) * p.h + head) * p.d;
#pragma unroll
    for (int ch = 0; ch < CHUNKS; ++ch) {
      const int c = ch * G::VECTOR_COLUMNS + lane * 4;
      dout_bits[rr][ch] = o_bits[rr][ch] = make_uint2(0, 0);
      if (first_row + rr < p.lq && c < p.d) {
        dout_bits[rr][ch] = *reinterpret_cast<const uint2*>(reinterpret_cast<const typename DT::T*>(p.dout) + base + c);
        o_bits[rr][ch] = *reinterpret_cast<const uint2*>(reinterpret_cast<const typename DT::T*>(p.o) + base + c);
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < G::ROWS_PER_WARP; ++rr) {
    const int row = first_row + rr;
    if (row >= p.lq) return;
    const int64_t base = ((int64_t(b) * p.lq + row) * p.h + head) * p.d;
    float dot = 0.f;
#pragma unroll
    for (int ch = 0; ch < CHUNKS; ++ch) {
      float dout[4], o[4];
      unpack4<DT>(dout_bits[rr][ch], dout);
      unpack4<DT>(o_bits[rr][ch], o);
#pragma unroll
      for (int i = 0; i < 4; ++i) dot += dout[i] * o[i];
      const int c = ch * G::VECTOR_COLUMNS + lane * 4;
      if (c < p.d) *reinterpret_cast<float4*>(reinterpret_cast<float*>(p.dq_accum) + base + c) = make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int s = 16; s > 0; s >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, s);
    if (lane == 0) reinterpret_cast<float*>(p.softmax_d)[(int64_t(b) * p.h + head) * p.lq + row] = dot;
  }
}

template <class DT>
__device__ __forceinline__ void bwd_pre_scalar(const FlashParams& p) {
  using T = typename DT::T;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = blockIdx.y, b = blockIdx.z;
  for (int rr = 0; rr < RowGeometry::ROWS_PER_WARP; ++rr) {
    const int row = blockIdx.x * RowConfig::ROWS + warp * RowGeometry::ROWS_PER_WARP + rr;
    if (row >= p.lq) return;
    const int64_t base = ((int64_t(b) * p.lq + row) * p.h + head) * p.d;
    const T* dout = reinterpret_cast<const T*>(p.dout) + base;
    const T* o = reinterpret_cast<const T*>(p.o) + base;
    float* acc_row = reinterpret_cast<float*>(p.dq_accum) + base;
    float dot = 0.f;
    for (int c = lane; c < p.d; c += 32) {
      dot += DT::to_float(dout[c]) * DT::to_float(o[c]);
      acc_row[c] = 0.f;
    }
#pragma unroll
    for (int s = 16; s > 0; s >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, s);
    if (lane == 0) reinterpret_cast<float*>(p.softmax_d)[(int64_t(b) * p.h + head) * p.lq + row] = dot;
  }
}

template <class DT, int HEAD_DIM>
__device__ __forceinline__ void bwd_pre_kernel(const FlashParams& p) {
  const bool vector = p.d % 4 == 0 && aligned_to(p.dout, 8) && aligned_to(p.o, 8) && aligned_to(p.dq_accum, 16);
  if (vector) bwd_pre_vector<DT, HEAD_DIM>(p);
  else bwd_pre_scalar<DT>(p);
}

template <class DT, int HEAD_DIM>
__device__ __forceinline__ void bwd_dq_vector(const FlashParams& p) {
  using G = RowGeometry;
  constexpr int CHUNKS = (HEAD_DIM + G::VECTOR_COLUMNS - 1) / G::VECTOR_COLUMNS;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = blockIdx.y, b = blockIdx.z;
  const int first_row = blockIdx.x * RowConfig::ROWS + warp * G::ROWS_PER_WARP;
  float4 acc[G::ROWS_PER_WARP][CHUNKS];
#pragma unroll
  for (int rr = 0; rr < G::ROWS_PER_WARP; ++rr) {
    const int64_t base = ((int64_t(b) * p.lq + first_row + rr) * p.h + head) * p.d;
#pragma unroll
    for (int ch = 0; ch < CHUNKS; ++ch) {
      const int c = ch * G::VECTOR_COLUMNS + lane * 4;
      acc[rr][ch] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (first_row + rr < p.lq && c < p.d) acc[rr][ch] = *reinterpret_cast<const float4*>(reinterpret_cast<const float*>(p.dq_accum) + base + c);
    }
  }
#pragma unroll
  for (int rr = 0; rr < G::ROWS_PER_WARP; ++rr) {
    if (first_row + rr >= p.lq) return;
    const int64_t base = ((int64_t(b) * p.lq + first_row + rr) * p.h + head) * p.d;
#pragma unroll
    for (int ch = 0; ch < CHUNKS; ++ch) {
      const int c = ch * G::VECTOR_COLUMNS + lane * 4;
      if (c >= p.d) continue;
      const float4 a = acc[rr][ch];
      const float s = p.softmax_scale;
      if (p.out_float32) {
        *reinterpret_cast<float4*>(reinterpret_cast<float*>(p.dq) + base + c) = make_float4(a.x * s, a.y * s, a.z * s, a.w * s);
      } else {
        *reinterpret_cast<uint2*>(reinterpret_cast<typename DT::T*>(p.dq) + base + c) = make_uint2(DT::pack(a.x * s, a.y * s), DT::pack(a.z * s, a.w * s));
      }
    }
  }
}

template <class DT>
__device__ __forceinline__ void bwd_dq_scalar(const FlashParams& p) {
  using T = typename DT::T;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = blockIdx.y, b = blockIdx.z;
  for (int rr = 0; rr < RowGeometry::ROWS_PER_WARP; ++rr) {
    const int row = blockIdx.x * RowConfig::ROWS + warp * RowGeometry::ROWS_PER_WARP + rr;
    if (row >= p.lq) return;
    const int64_t base = ((int64_t(b) * p.lq + row) * p.h + head) * p.d;
    const float* acc_row = reinterpret_cast<const float*>(p.dq_accum) + base;
    for (int c = lane; c < p.d; c += 32) {
      const float x = acc_row[c] * p.softmax_scale;
      if (p.out_float32) reinterpret_cast<float*>(p.dq)[base + c] = x;
      else reinterpret_cast<T*>(p.dq)[base + c] = DT::from_float(x);
    }
  }
}

template <class DT, int HEAD_DIM>
__device__ __forceinline__ void bwd_dq_kernel(const FlashParams& p) {
  const bool vector = p.d % 4 == 0 && aligned_to(p.dq_accum, 16) && aligned_to(p.dq, p.out_float32 ? 16 : 8);
  if (vector) bwd_dq_vector<DT, HEAD_DIM>(p);
  else bwd_dq_scalar<DT>(p);
}

}  // namespace flash
