// Deterministic dQ for sm_80+ (the backward's `deterministic` mode): no atomics, so dq is bitwise repeatable.
//
// One block: query rows [i0, i0 + BR) of one (batch, head); each of its 4 warps owns 16 rows and walks every key
// block those rows may see, in order, accumulating dQ in registers (paper notation, per key block j):
//   S = Q K_j^T,  P = exp2(S * scale * log2e - lse * log2e),  dP = dO V_j^T,  dS = P o (dP - D),  dQ += dS K_j
// and writes softmax_scale * dQ once at the end. The main backward still computes dK and dV (the sm_80 one also adds
// dQ into dq_accum, which nothing then reads or clears; the Hopper one, given no dq_accum, skips its dQ); this pass
// recomputes S and dP, which is the mode's cost. Beside the Hopper backward, kernels/sm90/dq_det.cuh's wgmma pass
// runs instead (the same arithmetic, k16 step by k16 step in the same order: its dq measured bitwise equal to this
// one's, bench/NOTES.md DQ1, which no test relies on across the two families).
#pragma once
#include "bwd.cuh"

namespace flash {

// Q, dO [BR][D] resident; K_j, V_j [BC][D] in STAGES buffers (two where 99 KB allows, so K_{j+1}, V_{j+1} load
// while block j is processed). Registers per thread: dQ D / 2, S and dP BC / 4 each. BC = 32 above d = 128 (99 KB)
// and for d = 96, whose sm_90 code spilled at BC = 64 at every ptxas register level tried.
template <int D>
struct DqConfig {
  static constexpr int WARPS = 4, BR = 64, BC = D <= 128 && D != 96 ? 64 : 32, STAGES = D <= 128 ? 2 : 1;
};

template <class DT, int D>
struct Dq {
  static constexpr int WARPS = DqConfig<D>::WARPS, BR = DqConfig<D>::BR, BC = DqConfig<D>::BC;
  static constexpr int STAGES = DqConfig<D>::STAGES, THREADS = 32 * WARPS;
  using RowTile = SmemTile<BR, D>;
  using KVTile = SmemTile<BC, D>;
  static constexpr int OFF_Q = 0, OFF_DO = RowTile::BYTES, OFF_KV = 2 * RowTile::BYTES;
  static constexpr int STAGE_BYTES = 2 * KVTile::BYTES;  // K then V
  static constexpr int SMEM_BYTES = OFF_KV + STAGES * STAGE_BYTES;
  static_assert(BR == 16 * WARPS, "one 16-row m-tile per warp");
};

template <class DT, int D>
__device__ __forceinline__ void bwd_dq_det_kernel(const FlashParams& p) {
  using F = Dq<DT, D>;
  using T = typename DT::T;
  using RowTile = typename F::RowTile;
  using KVTile = typename F::KVTile;
  constexpr int BR = F::BR, BC = F::BC, STAGES = F::STAGES, THREADS = F::THREADS;
  constexpr int NT_S = BC / 8, NT_D = D / 8;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int qb = gridDim.x - 1 - blockIdx.x;  // longest query blocks first under a causal mask
  const int head = blockIdx.y, b = blockIdx.z;
  const int kh = head / (p.h / p.hk);
  const int i0 = qb * BR;
  const int i_last = min(i0 + BR, p.lq) - 1;
  const int warp_row = warp * 16;

  const Mask mask(p);
  int64_t j_lo, j_hi;
  mask.keys_for(i0, i_last, &j_lo, &j_hi);
  const int nb_first = int(j_lo / BC);
  const int nb_last = j_hi >= j_lo ? int(j_hi / BC) : nb_first - 1;

  const int64_t q_stride = int64_t(p.h) * p.d, kv_stride = int64_t(p.hk) * p.d;
  const int64_t row_at = (int64_t(b) * p.lq + i0) * p.h + head;  // (batch, row i0, head) in [n, lq, h]
  const T* k = reinterpret_cast<const T*>(p.k) + (int64_t(b) * p.lk * p.hk + kh) * p.d;
  const T* v = reinterpret_cast<const T*>(p.v) + (int64_t(b) * p.lk * p.hk + kh) * p.d;
  const bool vec = p.d % 8 == 0 && ((p.q | p.k | p.v | p.dout) & 15) == 0;

  const uint32_t base = smem_addr(flash_smem);
  const uint32_t sQ = base + F::OFF_Q, sdO = base + F::OFF_DO;

  // Per row half (rows g and g + 8 of the warp): lse in log2 units (+inf for a row with no allowed key, so
  // exp2(x - inf) = 0) and D_i.
  float lse2[2], dvec[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = i0 + warp_row + g + r * 8;
    const int64_t at = (int64_t(b) * p.h + head) * p.lq + row;
    const float l = row < p.lq ? reinterpret_cast<const float*>(p.lse)[at] : -INFINITY;
    lse2[r] = l == -INFINITY ? INFINITY : l * LOG2E;
    dvec[r] = row < p.lq ? reinterpret_cast<const float*>(p.softmax_d)[at] : 0.f;
  }

  float dq[NT_D][4];
#pragma unroll
  for (int nt = 0; nt < NT_D; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) dq[nt][e] = 0.f;

  auto load_kv = [&](int nb, int stage) {
    const uint32_t sK = base + F::OFF_KV + stage * F::STAGE_BYTES;
    load_tile<KVTile, THREADS, DT>(sK, k + int64_t(nb) * BC * kv_stride, kv_stride, p.lk - nb * BC, p.d, vec);
    load_tile<KVTile, THREADS, DT>(sK + KVTile::BYTES, v + int64_t(nb) * BC * kv_stride, kv_stride, p.lk - nb * BC,
                                   p.d, vec);
  };
  if (nb_first <= nb_last) {
    load_tile<RowTile, THREADS, DT>(sQ, reinterpret_cast<const T*>(p.q) + row_at * p.d, q_stride, p.lq - i0, p.d, vec);
    load_tile<RowTile, THREADS, DT>(sdO, reinterpret_cast<const T*>(p.dout) + row_at * p.d, q_stride, p.lq - i0, p.d,
                                    vec);
    if (STAGES == 2) load_kv(nb_first, 0);
    cp_async_commit();
  }
  for (int nb = nb_first, st = 0; nb <= nb_last; ++nb, ++st) {
    const int j0 = nb * BC;
    const int stage = STAGES == 2 ? (st & 1) : 0;
    if (STAGES == 1) {
      // Barrier: every warp has finished block j - 1, so the single K/V stage may be overwritten.
      __syncthreads();
      load_kv(nb, 0);
      cp_async_commit();
    }
    cp_async_wait<0>();
    // Barrier: K_j, V_j (and Q, dO) are in shared memory for every warp; with two stages, every warp has also
    // finished block j - 1, whose stage the prefetch below overwrites.
    __syncthreads();
    if (STAGES == 2 && nb < nb_last) {
      load_kv(nb + 1, stage ^ 1);
      cp_async_commit();
    }
    const uint32_t sK = base + F::OFF_KV + stage * F::STAGE_BYTES, sV = sK + KVTile::BYTES;

    // S = Q K_j^T and dP = dO V_j^T for this warp's 16 rows.
    float s[NT_S][4], dp[NT_S][4];
#pragma unroll
    for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[nt][e] = dp[nt][e] = 0.f;
    // Not unrolled past 2 steps: fully unrolled, ptxas hoists the fragment loads of many steps and spills once
    // dQ holds D / 2 registers (d >= 160).
#pragma unroll 2
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t aq[4], ao[4];
      ldsm_a<RowTile>(aq, sQ, warp_row, kk * 16);
      ldsm_a<RowTile>(ao, sdO, warp_row, kk * 16);
#pragma unroll
      for (int np = 0; np < BC / 16; ++np) {
        uint32_t bk[4], bv[4];
        ldsm_b<KVTile>(bk, sK, kk * 16, np * 16);
        ldsm_b<KVTile>(bv, sV, kk * 16, np * 16);
        mma_16816(s[2 * np], aq, bk[0], bk[1], T());
        mma_16816(s[2 * np + 1], aq, bk[2], bk[3], T());
        mma_16816(dp[2 * np], ao, bv[0], bv[1], T());
        mma_16816(dp[2 * np + 1], ao, bv[2], bv[3], T());
      }
    }

    // dS in place of S; masked pairs (and keys past lk on the last block) get P = 0. Same formula as the main
    // backward, including the exact 0 where P rounds to 1 (see P_ONE_BAND).
    const bool masked = mask.tile_needs_mask(i0, i_last, j0, j0 + BC - 1);
    int lo[2] = {0, 0}, hi[2] = {0, 0};
    if (masked)
#pragma unroll
      for (int r = 0; r < 2; ++r) mask.row_range(i0 + warp_row + g + r * 8, &lo[r], &hi[r]);
#pragma unroll
    for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1, j = j0 + nt * 8 + 2 * t + (e & 1);
        float pv = exp2_approx(s[nt][e] * p.softmax_scale_log2 - lse2[r]);
        if (masked && (j < lo[r] || j > hi[r])) pv = 0.f;
        s[nt][e] = (pv >= 1.f - P_ONE_BAND ? 0.f : pv) * (dp[nt][e] - dvec[r]);
      }

    // dQ += dS K_j, dS rounded to the input dtype as the main backward rounds it; the accumulator layout of two
    // n8 blocks is the A layout of one k16 step.
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      uint32_t a[4];
      a[0] = DT::pack(s[2 * kk][0], s[2 * kk][1]);
      a[1] = DT::pack(s[2 * kk][2], s[2 * kk][3]);
      a[2] = DT::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      a[3] = DT::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int np = 0; np < D / 16; ++np) {
        uint32_t bk[4];
        ldsm_b_trans<KVTile>(bk, sK, kk * 16, np * 16);
        mma_16816(dq[2 * np], a, bk[0], bk[1], T());
        mma_16816(dq[2 * np + 1], a, bk[2], bk[3], T());
      }
    }
  }
  cp_async_wait<0>();  // no copy may still target shared memory when the block exits

  // softmax_scale * dQ, each element written once (rows with no key write 0).
#pragma unroll
  for (int nt = 0; nt < NT_D; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = i0 + warp_row + g + (e >> 1) * 8, col = nt * 8 + 2 * t + (e & 1);
      if (row >= p.lq || col >= p.d) continue;
      const int64_t idx = ((int64_t(b) * p.lq + row) * p.h + head) * p.d + col;
      const float x = dq[nt][e] * p.softmax_scale;
      if (p.out_float32) reinterpret_cast<float*>(p.dq)[idx] = x;
      else reinterpret_cast<T*>(p.dq)[idx] = DT::from_float(x);
    }
}

}  // namespace flash
