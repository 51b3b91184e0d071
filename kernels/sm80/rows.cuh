// The two small backward passes, one warp per (row, head):
//   bwd_pre: D_i = dot(dout_i, o_i) in float32 into softmax_d, and dq_accum row i = 0.
//   bwd_dq:  dq_i = softmax_scale * dq_accum_i, rounded to dtype (or float32 when out_float32).
#pragma once
#include "params.h"
#include "../common/dtype.cuh"
#include "config.cuh"

namespace flash {

template <class DT>
__device__ __forceinline__ void bwd_pre_kernel(const FlashParams& p) {
  using T = typename DT::T;
  constexpr int ROWS_PER_WARP = RowConfig::ROWS / RowConfig::WARPS;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = blockIdx.y, b = blockIdx.z;
  for (int rr = 0; rr < ROWS_PER_WARP; ++rr) {
    const int row = blockIdx.x * RowConfig::ROWS + warp * ROWS_PER_WARP + rr;
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

template <class DT>
__device__ __forceinline__ void bwd_dq_kernel(const FlashParams& p) {
  using T = typename DT::T;
  constexpr int ROWS_PER_WARP = RowConfig::ROWS / RowConfig::WARPS;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = blockIdx.y, b = blockIdx.z;
  for (int rr = 0; rr < ROWS_PER_WARP; ++rr) {
    const int row = blockIdx.x * RowConfig::ROWS + warp * ROWS_PER_WARP + rr;
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

}  // namespace flash
