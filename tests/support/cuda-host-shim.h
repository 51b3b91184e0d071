// Lets g++ compile the kernels' headers for the host, to test their integer arithmetic (tile and item orders, key
// ranges) on a machine without a GPU: CUDA's qualifiers vanish, and the launch dimensions and device intrinsics that
// the headers name get host stand-ins. Tests set gridDim themselves, and call no code that uses the intrinsics.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#define __device__
#define __host__
#define __global__
#define __shared__
#define __forceinline__ inline
// A __noinline__ device function would be emitted even when no test calls it, and its PTX asm cannot assemble for
// the host: inline, g++ emits it only where called.
#define __noinline__ inline
using std::max;
using std::min;
struct Dim3Shim {
  unsigned x, y, z;
};
static Dim3Shim gridDim{1, 1, 1}, blockIdx{0, 0, 0}, threadIdx{0, 0, 0};
inline unsigned long long __cvta_generic_to_shared(const void*) { return 0; }
template <class T> T __shfl_sync(unsigned, T v, int, int = 32) { return v; }
template <class T> T __shfl_xor_sync(unsigned, T v, int, int = 32) { return v; }
inline void __syncwarp(unsigned = 0xffffffffu) {}
inline void __syncthreads() {}
inline void __threadfence() {}
inline void __trap() { __builtin_trap(); }
inline void __nanosleep(unsigned) {}
template <class T> T atomicAdd(T* a, T v) { const T old = *a; *a += v; return old; }
inline unsigned __float_as_uint(float x) { unsigned u; std::memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned u) { float x; std::memcpy(&x, &u, 4); return x; }
