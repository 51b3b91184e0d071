// The score-shaped products of the Hopper kernels, S = Q K^T, its transpose S^T = K Q^T, and dP = dO V^T (or dP^T):
// both operands K-major in 64-column bands (ptx90.cuh's layout), KDIM / 16 k16 steps. The caller fences and commits.
#pragma once
#include "ptx90.cuh"
#include "wgmma_ops.cuh"

namespace flash90 {

// acc = A B^T over KDIM columns (A_BAND and B_BAND: bytes per band of each operand); the first step overwrites acc.
template <int N, int KDIM, int A_BAND, int B_BAND, class T, int R>
__device__ __forceinline__ void wgmma_banded_ss(float (&acc)[R], uint64_t a_rows, uint64_t b_rows) {
#pragma unroll
  for (int kk = 0; kk < KDIM / 16; ++kk)
    Wgmma<N>::ss(acc, desc_k_step<A_BAND>(a_rows, kk), desc_k_step<B_BAND>(b_rows, kk), kk > 0, T());
}

}  // namespace flash90
