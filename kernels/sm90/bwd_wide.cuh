// FlashAttention backward for Hopper (sm_90a), d = 256: the main pass (dK, dV, and dQ added into dq_accum).
//
// dK and dV of 64 keys x 256 columns are 256 float32 registers per thread of one warpgroup, more than it has, so
// here the two consumer warpgroups share the block's 64 keys and split the head dim: warpgroup w holds dK and dV
// for columns [128 w, 128 w + 128) (128 registers). The two products over the whole head dim are split by kind
// instead, so neither is computed twice (bwd.cuh's layout splits keys and exchanges only dS^T):
//   warpgroup 0: S^T = K Q_i^T, P^T (registers), dV_0 += P^T dO_i[:, 0:128] (A from registers)
//   warpgroup 1: dP^T = V dO_i^T, then dP^T - D to shared memory (float32)            -> barrier X_READY
//   warpgroup 0: dS^T = P^T o (dP^T - D); P^T and dS^T to shared memory (16-bit)      -> barrier T_READY
//   warpgroup 0: dK_0 += dS^T Q_i[:, 0:128] (A from registers)
//   warpgroup 1: dV_1 += P^T dO_i[:, 128:256], dK_1 += dS^T Q_i[:, 128:256] (A from shared memory)
//   each: dQ_i[:, 128 w : 128 w + 128] += dS K[:, 128 w : 128 w + 128] in two 64-column blocks, float32 atomics.
// The shared buffers are single: warpgroup 1 arrives on X_READY only after its dP^T of the step has completed, and
// wgmma groups complete in order, so its reads of the previous step's P^T and dS^T are over; warpgroup 0 reads
// dP^T - D before it reaches T_READY, which warpgroup 1 waits for before writing the next one.
// Tiles, steps and the producer warpgroup are bwd_tiles.cuh's. dK is scaled by softmax_scale when written.
#pragma once
#include "bwd_tiles.cuh"
#include "../common/dtype.cuh"
#include "wgmma_ops.cuh"

namespace flash90 {

template <int HEAD_DIM>
struct Bwd90Wide {
  static constexpr int D = HEAD_DIM, HALF = D / 2;  // HALF: one consumer's columns of dK, dV and dQ
  static constexpr int BR = 64, BC = 64, STAGES = 2;
  static constexpr int CONSUMER_THREADS = 256, THREADS = 128 + CONSUMER_THREADS;
  static constexpr int KV_BYTES = BC * D * 2, Q_BYTES = BR * D * 2;
  // Tiles are stored in bands of 64 columns (128 bytes per row, TMA's 128-byte swizzle): bytes per band.
  static constexpr int KV_BAND = BC * 128, Q_BAND = BR * 128;
  static constexpr int T_BYTES = BC * BR * 2;  // P^T or dS^T, 16-bit, one band (BR = 64 queries)
  static constexpr int X_BYTES = BC * BR * 4;  // dP^T - D, float32, in accumulator order
  static constexpr int OFF_K = 0, OFF_V = KV_BYTES, OFF_Q = 2 * KV_BYTES;
  static constexpr int OFF_DO = OFF_Q + STAGES * Q_BYTES;
  static constexpr int OFF_P = OFF_DO + STAGES * Q_BYTES, OFF_DS = OFF_P + T_BYTES, OFF_X = OFF_DS + T_BYTES;
  static constexpr int OFF_LSE = OFF_X + X_BYTES;             // [STAGES][BR] lse * log2e (+inf: no key or past lq)
  static constexpr int OFF_DVEC = OFF_LSE + STAGES * BR * 4;  // [STAGES][BR] D
  static constexpr int OFF_BARRIERS = OFF_DVEC + STAGES * BR * 4;
  static constexpr int SMEM_BYTES = OFF_BARRIERS + (1 + 2 * STAGES) * 8 + 1024;  // + alignment of the window to 1024
  // See Bwd90: setmaxnreg.inc cannot hand out more than the launch allocation.
  static constexpr int LAUNCH_REGS = 65536 / THREADS / 8 * 8;
  static constexpr int PRODUCER_REGS = 24, CONSUMER_REGS = 240;
  static_assert(PRODUCER_REGS * 128 + CONSUMER_REGS * CONSUMER_THREADS <= LAUNCH_REGS * THREADS, "register budget");
  static_assert(HALF == 128 && BC == 64, "dK, dV of 64 keys x 128 columns per consumer warpgroup");
  static_assert(SMEM_BYTES <= 232448, "the most shared memory a block may have on sm_90");
  static __device__ __forceinline__ void init_own_barriers(uint32_t) {}
  // Named barriers between the two consumers (id 0 is __syncthreads).
  static constexpr int X_READY = 1, T_READY = 2;
};

// 16-bit A fragments of a 64 x 64 accumulator (four k16 steps over its columns) to shared memory, row by row,
// 128-byte swizzle (16-byte chunk c of row r at c ^ (r % 8)): the K-major layout wgmma reads them back from.
__device__ __forceinline__ void store_fragments_swizzled(uint32_t at, const uint32_t (&a)[4][4], int row0, int g, int t) {
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = row0 + g + 8 * r;
      flash::st_shared_32(at + row * 128 + ((nt ^ (row % 8)) * 16) + t * 4, a[nt / 2][(nt % 2) * 2 + r]);
    }
}

// One consumer's half of dQ_i (64 queries x 128 columns) = dS K[:, cols], one 64-column block at a time (A = dS:
// M = queries, stored M-major as dS^T; B = K: N = head dim, stored N-major; 16 keys per k step), added into
// dq_accum with float32 vector atomics. Waits for every wgmma group this warpgroup issued before (two blocks in
// flight at once made ptxas serialize the wgmmas for want of registers).
template <class DT, int D>
__device__ __forceinline__ void bwd_wide_dq(const FlashParams& p, const BwdBlock<Bwd90Wide<D>>& blk, int hq, int i0,
                                            int w, int row_in_tile) {
  using F = Bwd90Wide<D>;
  using T = typename DT::T;
  const uint32_t sdS = blk.base + F::OFF_DS;
  float* dq_accum = reinterpret_cast<float*>(p.dq_accum);
#pragma unroll
  for (int c = 0; c < 2; ++c) {
    float dq[32];
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < F::BC / 16; ++kk)
      Wgmma<64>::ss_mn(dq, desc_n_major(sdS + kk * 16 * 128, F::T_BYTES),
                       desc_n_major(blk.sK() + (2 * w + c) * F::KV_BAND + kk * 16 * 128, F::KV_BAND), kk > 0, T());
    wgmma_commit();
    wgmma_wait<0>();
    fence_registers(dq);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = i0 + row_in_tile + 8 * r;
      if (row >= p.lq) continue;
      float* at = dq_accum + ((int64_t(blk.b) * p.lq + row) * p.h + hq) * p.d;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const int col = F::HALF * w + 64 * c + 8 * nt + ((threadIdx.x & 3) * 2);
        if (col < p.d) flash::red_add_f32x2(at + col, dq[4 * nt + 2 * r], dq[4 * nt + 2 * r + 1]);
      }
    }
  }
}

// Consumer warpgroup w (0: scores and probabilities, 1: dP) over every step; dK and dV of its 128 columns.
template <class DT, int D>
__device__ __forceinline__ void bwd_wide_consumer(const FlashParams& p, const BwdBlock<Bwd90Wide<D>>& blk) {
  using F = Bwd90Wide<D>;
  using T = typename DT::T;
  // Probabilities within this of 1 count as 1 in dS (as in the sm_80 backward, kernels/sm80/bwd.cuh).
  constexpr float P_ONE_BAND = 1.f / 65536.f;
  const flash::Mask mask(p);
  const int ct = threadIdx.x - 128, w = ct / 128, wt = ct % 128;
  const int warp_row = ((wt / 32) % 4) * 16, lane = ct & 31, g = lane >> 2, t = lane & 3;
  const uint32_t sP = blk.base + F::OFF_P, sdS = blk.base + F::OFF_DS, sX = blk.base + F::OFF_X + wt * 16;

  float dv[64], dk[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) dv[i] = dk[i] = 0.f;

  if (blk.steps > 0) mbar_wait(blk.kv_full(), 0);
  for (int st = 0; st < blk.steps; ++st) {
    const int s = st % F::STAGES, hq = blk.head_of(st), i0 = blk.row_of(st);
    const uint32_t sQ = blk.sQ(s), sdO = blk.sdO(s);
    mbar_wait(blk.full(s), (st / F::STAGES) & 1);

    // Warpgroup 0: S^T = K Q_i^T; warpgroup 1: dP^T = V dO_i^T. 16 k16 steps, four per 64-column band.
    float acc[32];
    const uint32_t a_tile = w == 0 ? blk.sK() : blk.sV(), b_tile = w == 0 ? sQ : sdO;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
      Wgmma<64>::ss(acc, desc_k_major(a_tile + (kk / 4) * F::KV_BAND + (kk % 4) * 32),
                    desc_k_major(b_tile + (kk / 4) * F::Q_BAND + (kk % 4) * 32), kk > 0, T());
    wgmma_commit();
    wgmma_wait<0>();
    fence_registers(acc);

    if (w == 1) {
      // dP^T - D to shared memory in accumulator order (float4 i of thread wt at (128 i + wt) * 16 bytes), where
      // thread wt of warpgroup 0 holds the same elements of S^T.
      const float* dvec = blk.dvec(s);
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const float2 d2 = *reinterpret_cast<const float2*>(dvec + 8 * nt + 2 * t);
        const float4 x = make_float4(acc[4 * nt] - d2.x, acc[4 * nt + 1] - d2.y, acc[4 * nt + 2] - d2.x,
                                     acc[4 * nt + 3] - d2.y);
        flash::st_shared_128(sX + nt * 128 * 16, make_uint4(__float_as_uint(x.x), __float_as_uint(x.y),
                                                            __float_as_uint(x.z), __float_as_uint(x.w)));
      }
      named_arrive(F::X_READY, F::CONSUMER_THREADS);
      named_sync(F::T_READY, F::CONSUMER_THREADS);
      // dV_1 += P^T dO_i[:, 128:256] and dK_1 += dS^T Q_i[:, 128:256]: A (keys x queries) K-major from the
      // exchanged tiles, B (queries x columns) N-major, 16 queries per k step.
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < F::BR / 16; ++kk)
        Wgmma<128>::ss_kn(dv, desc_k_major(sP + kk * 32), desc_n_major(sdO + 2 * F::Q_BAND + kk * 16 * 128, F::Q_BAND), 1, T());
#pragma unroll
      for (int kk = 0; kk < F::BR / 16; ++kk)
        Wgmma<128>::ss_kn(dk, desc_k_major(sdS + kk * 32), desc_n_major(sQ + 2 * F::Q_BAND + kk * 16 * 128, F::Q_BAND), 1, T());
      wgmma_commit();
    } else {
      // P^T = exp2(S^T * scale * log2e - lse * log2e). Element (key row, query column) of nt, r, e: key row
      // warp_row + g + 8 r, query column 8 nt + 2 t + e.
      probabilities_t<F::BR>(p, mask, acc, blk.lse(s), i0, blk.j0, warp_row, lane);
      uint32_t pa[4][4];
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
#pragma unroll
        for (int q = 0; q < 4; ++q) pa[kk][q] = DT::pack(acc[8 * kk + 2 * q], acc[8 * kk + 2 * q + 1]);
      // dV_0 += P^T dO_i[:, 0:128] while warpgroup 1 finishes dP^T.
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < F::BR / 16; ++kk) Wgmma<128>::rs(dv, pa[kk], desc_n_major(sdO + kk * 16 * 128, F::Q_BAND), T());
      wgmma_commit();

      // dS^T = P^T o (dP^T - D). Where P rounds to 1 the row's other probabilities sum to under P_ONE_BAND, so the
      // exact limit 0 replaces the float32 residue of dP - D (two sums of one dot product in different orders).
      named_sync(F::X_READY, F::CONSUMER_THREADS);
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const uint4 x = flash::ld_shared_128(sX + nt * 128 * 16);
        const float xs[4] = {__uint_as_float(x.x), __uint_as_float(x.y), __uint_as_float(x.z), __uint_as_float(x.w)};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float pv = acc[4 * nt + e];
          acc[4 * nt + e] = (pv >= 1.f - P_ONE_BAND ? 0.f : pv) * xs[e];
        }
      }
      uint32_t da[4][4];
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
#pragma unroll
        for (int q = 0; q < 4; ++q) da[kk][q] = DT::pack(acc[8 * kk + 2 * q], acc[8 * kk + 2 * q + 1]);
      wgmma_wait<0>();  // dV_0 has read pa: its A registers may be read again (PTX leaves that undefined before)
      store_fragments_swizzled(sP, pa, warp_row, g, t);
      store_fragments_swizzled(sdS, da, warp_row, g, t);
      fence_proxy_async_smem();  // the generic-proxy stores above are read next by wgmma (async proxy)
      // A full barrier, not an arrival: this warpgroup's own dQ product reads all of its threads' dS^T stores.
      named_sync(F::T_READY, F::CONSUMER_THREADS);

      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < F::BR / 16; ++kk) Wgmma<128>::rs(dk, da[kk], desc_n_major(sQ + kk * 16 * 128, F::Q_BAND), T());
      wgmma_commit();
    }
    bwd_wide_dq<DT, D>(p, blk, hq, i0, w, warp_row + g);
    fence_registers(dv);
    fence_registers(dk);
    mbar_arrive(blk.empty(s));  // Q_i, dO_i, lse and D of stage s are no longer read
  }

  store_dk_dv<DT, F::HALF>(p, blk.b, blk.kh, blk.j0 + warp_row + g, F::HALF * w, t, dk, dv);  // its columns of dK, dV
}

template <class DT, int D>
__device__ __forceinline__ void bwd_wide_kernel(const BwdArgs& args) {
  bwd_block_run<Bwd90Wide<D>>(args, [&](const BwdBlock<Bwd90Wide<D>>& blk) { bwd_wide_consumer<DT, D>(args.p, blk); });
}

}  // namespace flash90
