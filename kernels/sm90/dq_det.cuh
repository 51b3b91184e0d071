// The deterministic backward's dq on Hopper (sm_90a), in place of the sm_80 bwd_dq_det (kernels/sm80/dq.cuh) beside
// the Hopper backward (bwd.cuh at d = 64, 128; bwd_wide.cuh at 256): no atomics, so dq is bitwise repeatable, and
// wgmma instead of mma.sync for the three products it recomputes.
//
// One block: query rows [i0, i0 + BR) of one (batch, head); a producer warpgroup (one thread issues the TMA copies:
// Q and dO once, then K_j and V_j into a ring of STAGES stages) and consumer warpgroups of 64 rows each (two; one at
// d = 256, whose dQ alone takes 128 registers a thread and whose two stages fill the shared memory), which walk
// every key block their tile may see, in order, accumulating dQ in registers (paper notation):
//   S = Q K_j^T,  dP = dO V_j^T                                  (wgmma, both operands in shared memory)
//   P = exp2(S * scale * log2e - lse * log2e),  dS = P o (dP - D)  (registers; the main backward's formula)
//   dQ += dS K_j                                                  (wgmma, A = dS from registers)
// and write softmax_scale * dQ once at the end. It reads q, k, v and dout through the main backward's tensor maps
// (the same BwdArgs: DqDetConfig90's Main gives the box rows), so the host encodes nothing more for it.
// At d = 64 / 128 (COMPUTES_D) it also computes D = rowsum(dout o o) for its rows and writes it to softmax_d, in place
// of bwd_pre: the host runs it before the main backward (which reads D), and no bwd_pre at all (the manifest's
// computesD). At d = 256 it reads D from bwd_pre and runs after the main backward: there its one consumer
// warpgroup's main loop takes every register (computing D there spilled), and D computed by the producer's idle
// warps came too late for the first dS (bench/NOTES.md DQ3).
#pragma once
#include "bwd.cuh"
#include "bwd_wide.cuh"

namespace flash90 {

// Per head dim: the main backward's layout, whose tensor maps this kernel reads through, and the consumer warpgroups.
template <int D> struct DqDetConfig90;
template <> struct DqDetConfig90<64> { using Main = Bwd90<64>; static constexpr int CONSUMERS = 2; };
template <> struct DqDetConfig90<128> { using Main = Bwd90<128>; static constexpr int CONSUMERS = 2; };
template <> struct DqDetConfig90<256> { using Main = Bwd90Wide<256>; static constexpr int CONSUMERS = 1; };

template <int HEAD_DIM>
struct DqDet90 {
  using Main = typename DqDetConfig90<HEAD_DIM>::Main;
  static constexpr int CONSUMERS = DqDetConfig90<HEAD_DIM>::CONSUMERS;
  static constexpr int D = HEAD_DIM, BR = 64 * CONSUMERS, BC = Main::BC, STAGES = 2;
  static constexpr int Q_BOX_ROWS = Main::BR;  // rows of one q / dout box
  static_assert(BR % Q_BOX_ROWS == 0 && BC % 16 == 0, "whole boxes per tile, k16 steps per key block");
  static constexpr int CONSUMER_THREADS = 128 * CONSUMERS, THREADS = 128 + CONSUMER_THREADS;
  static constexpr int Q_BYTES = BR * D * 2, KV_BYTES = BC * D * 2, Q_BAND = BR * 128, KV_BAND = BC * 128;
  static constexpr int OFF_Q = 0, OFF_DO = Q_BYTES, OFF_K = 2 * Q_BYTES, OFF_V = OFF_K + STAGES * KV_BYTES;
  // D computed here (each consumer warp for its own 16 rows) with two consumer warpgroups; see the top.
  static constexpr bool COMPUTES_D = CONSUMERS > 1;
  // D of the tile's rows (float32) where computed here, then the barriers: q_full, per stage kv_full and kv_empty.
  static constexpr int OFF_D = OFF_V + STAGES * KV_BYTES, OFF_BARRIERS = OFF_D + (COMPUTES_D ? BR * 4 : 0);
  static constexpr int SMEM_BYTES = OFF_BARRIERS + 8 * (1 + 2 * STAGES) + 1024;  // + slack to align the window
  // A consumer thread holds S and dP (BC / 2 registers each), dS packed (BC / 4) and dQ (D / 2). With two consumer
  // warpgroups setmaxnreg moves registers to them; with one, every thread may have 255 already.
  static constexpr bool MOVES_REGS = CONSUMERS > 1;
  static constexpr int LAUNCH_REGS = 65536 / THREADS / 8 * 8, PRODUCER_REGS = 24, CONSUMER_REGS = 240;
  static_assert(!MOVES_REGS || PRODUCER_REGS * 128 + CONSUMER_REGS * CONSUMER_THREADS <= LAUNCH_REGS * THREADS,
                "register budget");
  static_assert(SMEM_BYTES <= MAX_SMEM_BYTES, "the most shared memory a block may have on sm_90");
};

// The tile of block (blockIdx.x, head, batch): highest query block first (under a causal mask the longest), and the
// key blocks its rows may see.
struct DqDetTile {
  int i0, i_last, head, kh, b, nb_first, nb_last;
  template <class F>
  __device__ __forceinline__ static DqDetTile of(const FlashParams& p) {
    DqDetTile t;
    t.i0 = int(gridDim.x - 1 - blockIdx.x) * F::BR;
    t.i_last = min(t.i0 + F::BR, p.lq) - 1;
    t.head = blockIdx.y;
    t.kh = t.head / (p.h / p.hk);
    t.b = blockIdx.z;
    int64_t j_lo, j_hi;
    flash::Mask(p).keys_for(t.i0, t.i_last, &j_lo, &j_hi);
    t.nb_first = int(j_lo / F::BC);
    t.nb_last = j_hi >= j_lo ? int(j_hi / F::BC) : t.nb_first - 1;
    return t;
  }
};

// Thread 0 of the producer warpgroup: Q and dO once, then K_j and V_j as the consumers free the stages.
template <class F>
__device__ __forceinline__ void dq_det_produce(const BwdArgs& args, const DqDetTile& tile, uint32_t base) {
  const uint32_t q_full = base + F::OFF_BARRIERS;
  auto kv_full = [&](int s) { return q_full + 8u * (1 + s); };
  auto kv_empty = [&](int s) { return q_full + 8u * (1 + F::STAGES + s); };
  mbar_arrive_expect_tx(q_full, 2 * F::Q_BYTES);
  for (int band = 0; band < F::D / 64; ++band)
    for (int box = 0; box < F::BR / F::Q_BOX_ROWS; ++box) {
      const uint32_t at = band * F::Q_BAND + box * F::Q_BOX_ROWS * 128;
      const int row = tile.i0 + box * F::Q_BOX_ROWS;
      tma_load_4d(base + F::OFF_Q + at, &args.q, band * 64, row, tile.head, tile.b, q_full);
      tma_load_4d(base + F::OFF_DO + at, &args.dout, band * 64, row, tile.head, tile.b, q_full);
    }
  for (int nb = tile.nb_first, jt = 0; nb <= tile.nb_last; ++nb, ++jt) {
    const int s = jt % F::STAGES;
    mbar_wait(kv_empty(s), ((jt / F::STAGES) & 1) ^ 1);
    mbar_arrive_expect_tx(kv_full(s), 2 * F::KV_BYTES);
    for (int band = 0; band < F::D / 64; ++band) {
      tma_load_4d(base + F::OFF_K + s * F::KV_BYTES + band * F::KV_BAND, &args.k, band * 64, nb * F::BC, tile.kh,
                  tile.b, kv_full(s));
      tma_load_4d(base + F::OFF_V + s * F::KV_BYTES + band * F::KV_BAND, &args.v, band * 64, nb * F::BC, tile.kh,
                  tile.b, kv_full(s));
    }
  }
}

// D_i = dot(dout_i, o_i) in float32 for the warp's 16 rows [first, first + 16) of the tile (COMPUTES_D): into softmax_d
// (for the main backward, which runs after this pass) and into the tile's D rows in shared memory. o is read from
// global memory, its loads all issued before the wait for Q and dO so that they fly beside the TMA copies; dout is
// read from its tile in shared memory (128-byte swizzle: 16-byte chunk c of row r at c ^ (r % 8); columns past d and
// rows past lq are TMA's zeros). A row takes D / 8 lanes of 8 columns. A tile that sees no key loads no dout: there
// P is 0 wherever D is used, and D = 0 is written.
template <class DT, int D>
__device__ __forceinline__ void dq_det_row_dots(const FlashParams& p, const DqDetTile& tile, uint32_t base, int first) {
  using F = DqDet90<D>;
  using T = typename DT::T;
  static_assert(F::COMPUTES_D, "the D rows have no room in shared memory otherwise");
  constexpr int LANES = D / 8, ROWS_AT_ONCE = 32 / LANES, PASSES = 16 / ROWS_AT_ONCE;
  const int lane = threadIdx.x & 31, sub = lane / LANES, chunk = lane % LANES, col = 8 * chunk;
  const bool sees_keys = tile.nb_first <= tile.nb_last;
  // 16-byte loads where o allows them (q, k, v and dout are 16-byte aligned on this path; o need not be).
  const bool vector = (p.o & 15) == 0;
  auto tile_row = [&](int k) { return first + k * ROWS_AT_ONCE + sub; };
  uint4 o_bits[PASSES];
#pragma unroll
  for (int k = 0; k < PASSES; ++k) {
    const int row = tile.i0 + tile_row(k);
    o_bits[k] = make_uint4(0, 0, 0, 0);
    if (!sees_keys || row >= p.lq || col >= p.d) continue;
    const T* o = reinterpret_cast<const T*>(p.o) + ((int64_t(tile.b) * p.lq + row) * p.h + tile.head) * p.d + col;
    if (vector) {
      o_bits[k] = *reinterpret_cast<const uint4*>(o);
    } else {
      T* e = reinterpret_cast<T*>(&o_bits[k]);
#pragma unroll
      for (int i = 0; i < 8; ++i) e[i] = o[i];
    }
  }
  if (sees_keys) mbar_wait(base + F::OFF_BARRIERS, 0);  // q_full: dout's tile is in
  // Each row's lanes' partial dots, then their sums, then the stores: three separate loops, so that the rows' chains
  // (a shared load, eight FMAs, log2(LANES) shuffles) overlap instead of running one after another.
  float dot[PASSES];
#pragma unroll
  for (int k = 0; k < PASSES; ++k) {
    const int r = tile_row(k);
    dot[k] = 0.f;
    if (sees_keys) {
      const uint4 d_bits = flash::ld_shared_128(base + F::OFF_DO + (chunk / 8) * F::Q_BAND + r * 128 +
                                                (((chunk % 8) ^ (r % 8)) * 16));
      const T* dout = reinterpret_cast<const T*>(&d_bits);
      const T* o = reinterpret_cast<const T*>(&o_bits[k]);
#pragma unroll
      for (int i = 0; i < 8; ++i) dot[k] = fmaf(DT::to_float(dout[i]), DT::to_float(o[i]), dot[k]);
    }
  }
#pragma unroll
  for (int s = LANES / 2; s > 0; s >>= 1)
#pragma unroll
    for (int k = 0; k < PASSES; ++k) dot[k] += __shfl_xor_sync(0xffffffffu, dot[k], s);
#pragma unroll
  for (int k = 0; k < PASSES; ++k) {
    const int r = tile_row(k), row = tile.i0 + r;
    if (chunk == 0) {
      flash::st_shared_32(base + F::OFF_D + 4 * r, __float_as_uint(dot[k]));
      if (row < p.lq) reinterpret_cast<float*>(p.softmax_d)[(int64_t(tile.b) * p.h + tile.head) * p.lq + row] = dot[k];
    }
  }
  __syncwarp();  // the D rows stored by the warp's lanes, seen by all of them
}

// A consumer warpgroup: dQ of its 64 rows over the tile's key blocks, then softmax_scale * dQ into dq.
template <class DT, int D>
__device__ __forceinline__ void dq_det_consume(const BwdArgs& args, const DqDetTile& tile, uint32_t base) {
  using F = DqDet90<D>;
  using T = typename DT::T;
  constexpr int BC = F::BC, NS = BC / 2, NQ = D / 2;
  using flash::LOG2E, flash::P_ONE_BAND;  // common/softmax_consts.cuh
  const FlashParams& p = args.p;
  const flash::Mask mask(p);
  const int ct = threadIdx.x - 128, w = warp_uniform(ct / 128);
  const int warp_row = 64 * w + ((ct / 32) % 4) * 16, lane = ct & 31, g = lane >> 2, t = lane & 3;
  const uint32_t q_full = base + F::OFF_BARRIERS;
  auto kv_full = [&](int s) { return q_full + 8u * (1 + s); };
  auto kv_empty = [&](int s) { return q_full + 8u * (1 + F::STAGES + s); };

  // Rows g and g + 8 of the warp: lse in log2 units (+inf where P must be 0: no key, or past lq) and D: bwd_pre's,
  // or computed by this warp (COMPUTES_D).
  float lse2[2], dvec[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = tile.i0 + warp_row + g + 8 * r;
    const int64_t at = (int64_t(tile.b) * p.h + tile.head) * p.lq + row;
    const float l = row < p.lq ? reinterpret_cast<const float*>(p.lse)[at] : -INFINITY;
    lse2[r] = l == -INFINITY ? INFINITY : l * LOG2E;
    if constexpr (!F::COMPUTES_D) dvec[r] = row < p.lq ? reinterpret_cast<const float*>(p.softmax_d)[at] : 0.f;
  }
  if constexpr (F::COMPUTES_D) {
    dq_det_row_dots<DT, D>(p, tile, base, warp_row);
#pragma unroll
    for (int r = 0; r < 2; ++r)
      dvec[r] = __uint_as_float(flash::ld_shared_32(base + F::OFF_D + 4 * (warp_row + g + 8 * r)));
  }
  if (tile.nb_first <= tile.nb_last) mbar_wait(q_full, 0);

  float dq[NQ];
#pragma unroll
  for (int i = 0; i < NQ; ++i) dq[i] = 0.f;
  const uint64_t q_rows = desc_k_major(base + F::OFF_Q + 64 * w * 128);
  const uint64_t do_rows = desc_k_major(base + F::OFF_DO + 64 * w * 128);
  for (int nb = tile.nb_first, jt = 0; nb <= tile.nb_last; ++nb, ++jt) {
    const int s = jt % F::STAGES, j0 = nb * BC;
    const uint32_t sK = base + F::OFF_K + s * F::KV_BYTES, sV = base + F::OFF_V + s * F::KV_BYTES;
    mbar_wait(kv_full(s), (jt / F::STAGES) & 1);
    // S and dP: D / 16 steps of k16 each, four per 64-column band.
    float sc[NS], dp[NS];
    const uint64_t k_rows = desc_k_major(sK), v_rows = desc_k_major(sV);
    wgmma_fence();
    wgmma_banded_ss<BC, D, F::Q_BAND, F::KV_BAND, T>(sc, q_rows, k_rows);
    wgmma_commit();
    wgmma_banded_ss<BC, D, F::Q_BAND, F::KV_BAND, T>(dp, do_rows, v_rows);
    wgmma_commit();
    wgmma_wait<1>();  // S done; dP may still run
    fence_registers(sc);
    // P in place of S (element nt, r, e: row warp_row + g + 8 r, key j0 + 8 nt + 2 t + e); masked pairs and keys past
    // lk get 0.
    const bool masked = mask.tile_needs_mask(tile.i0, tile.i_last, j0, j0 + BC - 1);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      int lo = 0, hi = 0;
      if (masked) mask.row_range(tile.i0 + warp_row + g + 8 * r, &lo, &hi);
#pragma unroll
      for (int nt = 0; nt < BC / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int j = j0 + 8 * nt + 2 * t + e;
          const float pv = flash::exp2_approx(fmaf(sc[4 * nt + 2 * r + e], p.softmax_scale_log2, -lse2[r]));
          sc[4 * nt + 2 * r + e] = masked && (j < lo || j > hi) ? 0.f : pv;
        }
    }
    wgmma_wait<0>();
    fence_registers(dp);
    // dS = P o (dP - D), with the exact 0 where P rounds to 1 (bwd.cuh's P_ONE_BAND), packed into the A layout of
    // k16 steps over the keys (two n8 accumulator blocks per step), rounded to the input dtype as the main backward
    // rounds it.
    uint32_t da[BC / 16][4];
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk)
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        float ds[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int i = 8 * kk + 2 * q + e, r = q % 2;
          ds[e] = (sc[i] >= 1.f - P_ONE_BAND ? 0.f : sc[i]) * (dp[i] - dvec[r]);
        }
        da[kk][q] = DT::pack(ds[0], ds[1]);
      }
    // dQ += dS K_j: 16 keys (two 8-row atoms of K_j) per k16 step, K_j read N-major (keys along K, head dim along N).
    // Waited for before the next block's S and dP: with dS (its A registers) still in flight beside their
    // accumulators, ptxas ran out of registers at d = 128 and serialized the wgmmas (C7512), and at d = 64 serialized
    // them too (C7515). The other consumer warpgroup's products fill the tensor cores meanwhile.
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk)
      Wgmma<D>::rs(dq, da[kk], desc_advance(desc_n_major(sK, F::KV_BAND), kk * 16 * 128), T());
    wgmma_commit();
    wgmma_wait<0>();
    fence_registers(dq);
    if (nb < tile.nb_last) mbar_arrive(kv_empty(s));  // the last stage is not released: nothing waits for it
  }

  // softmax_scale * dQ, each element written once (rows with no key write 0); d is a multiple of 8 on this path,
  // so a pair of columns is either all in or all out.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = tile.i0 + warp_row + g + 8 * r;
    if (row >= p.lq) continue;
    const int64_t at = ((int64_t(tile.b) * p.lq + row) * p.h + tile.head) * p.d;
#pragma unroll
    for (int nt = 0; nt < D / 8; ++nt) {
      const int col = 8 * nt + 2 * t;
      if (col >= p.d) continue;
      const float x0 = dq[4 * nt + 2 * r] * p.softmax_scale, x1 = dq[4 * nt + 2 * r + 1] * p.softmax_scale;
      if (p.out_float32) *reinterpret_cast<float2*>(reinterpret_cast<float*>(p.dq) + at + col) = make_float2(x0, x1);
      else *reinterpret_cast<uint32_t*>(reinterpret_cast<T*>(p.dq) + at + col) = DT::pack(x0, x1);
    }
  }
}

template <class DT, int D>
__device__ __forceinline__ void dq_det_kernel(const BwdArgs& args) {
  using F = DqDet90<D>;
  const uint32_t base = (smem_addr(flash90_bwd_smem) + 1023u) & ~1023u;
  const DqDetTile tile = DqDetTile::of<F>(args.p);
  if (threadIdx.x == 0) {
    mbar_init(base + F::OFF_BARRIERS, 1);  // q_full
    for (int s = 0; s < F::STAGES; ++s) {
      mbar_init(base + F::OFF_BARRIERS + 8u * (1 + s), 1);                          // kv_full
      mbar_init(base + F::OFF_BARRIERS + 8u * (1 + F::STAGES + s), F::CONSUMER_THREADS);  // kv_empty
    }
    fence_barrier_init();
  }
  __syncthreads();
  // Programmatic dependent launch (common/ptx.cuh): o, lse, softmax_d, q, k, v and dout are read, and softmax_d
  // written (COMPUTES_D: the previous backward may still be reading it), only after this.
  flash::wait_for_previous_grid();
  flash::allow_next_grid();
  if (threadIdx.x < 128) {
    if constexpr (F::MOVES_REGS) regs_decrease<F::PRODUCER_REGS>();
    if (threadIdx.x == 0 && tile.nb_first <= tile.nb_last) {
      prefetch_tensor_map(&args.q);
      prefetch_tensor_map(&args.k);
      prefetch_tensor_map(&args.v);
      prefetch_tensor_map(&args.dout);
      dq_det_produce<F>(args, tile, base);
    }
  } else {
    if constexpr (F::MOVES_REGS) regs_increase<F::CONSUMER_REGS>();
    dq_det_consume<DT, D>(args, tile, base);
  }
}

}  // namespace flash90
