// The two 16-bit input types: packing float pairs into the 32-bit registers mma.sync reads, and scalar
// conversions for predicated loads and stores.
#pragma once
#include "ptx.cuh"

namespace flash {

struct Float16 {
  using T = __half;
  // Round two floats to float16 (nearest even) and pack them, lo in the low 16 bits.
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
  static __device__ __forceinline__ float to_float(T x) { return __half2float(x); }
  static __device__ __forceinline__ T from_float(float x) { return __float2half_rn(x); }
};

struct BFloat16 {
  using T = __nv_bfloat16;
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
  static __device__ __forceinline__ float to_float(T x) { return __bfloat162float(x); }
  static __device__ __forceinline__ T from_float(float x) { return __float2bfloat16_rn(x); }
};

}  // namespace flash
