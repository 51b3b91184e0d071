// FlashAttention backward for Hopper (sm_90a): the main pass (dK, dV, and dQ added into dq_accum), with K_j and
// V_j resident in shared memory, Q_i / dO_i streamed by TMA through a ring of stages, and wgmma for all five
// products. bwd_pre (softmax_d, zeroed dq_accum) and bwd_dq (dq from dq_accum) stay the sm_80 family's kernels; in
// deterministic mode dq_det.cuh's pass computes dq instead (and, at d = 64 / 128, softmax_d, running first).
//
// For d <= 128 (d = 256: bwd_wide.cuh). The block and its producer warpgroup are bwd_tiles.cuh's. Each of the two
// consumer warpgroups owns 64 of the block's keys and holds their dK and dV accumulators in registers; per step
// (paper notation, transposed so that keys are the wgmma M dimension):
//   S^T = K_w Q_i^T,  dP^T = V_w dO_i^T                     (wgmma, both operands in shared memory)
//   P^T = exp2(S^T * scale * log2e - lse * log2e),  dS^T = P^T o (dP^T - D)   (registers)
//   dV_w += P^T dO_i                                        (wgmma, A from registers: P^T never leaves them)
//   dS^T -> shared memory as dS (query rows, key columns; one of two buffers, by step parity)
//   dK_w += dS^T Q_i                                        (wgmma, A from registers)
//   dQ_{i-1} += dS_{i-1} K_j                                (wgmma, both operands in shared memory)
// where each warpgroup computes one 64 x 64 block of dQ (d = 128: one half of the head dim; d = 64 with 128 query
// rows: one half of the rows) over both warpgroups' keys and adds it into dq_accum by TMA reductions through its
// warps' stages in shared memory (bwd_tiles.cuh's stage_dq_block and flush_dq_block). It does so one step late, so
// that it never waits for the other warpgroup's dS^T of the same step: besides the stages (a stage is refilled once
// both have released it), the consumers meet only through two mbarriers per dS buffer (both stored it; both read
// it) and a start offset at each item, and can run half a step apart.
// dK is scaled by softmax_scale when written; dq by bwd_dq. With dq_accum 0 (the deterministic backward, whose
// bwd_dq_det computes dq itself) the dQ products and reductions are skipped, and dS^T never leaves the registers.
#pragma once
#include "bwd_items.cuh"
#include "../common/dtype.cuh"
#include "epilogue.cuh"
#include "products.cuh"

namespace flash90 {

// Per head dim: query rows per step (BR). A consumer thread holds S^T and dP^T (BR / 2 registers each) beside
// dK and dV (D / 2 each) under a 240-register budget: BR = 64 for d = 128, BR = 128 for d = 64. (80 rows at d = 128,
// with dQ computed transposed, measured slower and spilled: bench/NOTES.md B8.)
template <int D> struct BwdConfig90;
// PRODUCER_REGS / CONSUMER_REGS: the register split (setmaxnreg). Looping over items (bwd_items.cuh) costs the
// producer registers: at d = 128 the consumers fit 232 and the producer gets 32; at d = 64 the consumers need 240
// (232 spilled 28 bytes), and the producer fits 24 only with its K / V issued before the item's first Q / dO.
template <> struct BwdConfig90<64>  {
  static constexpr int BR = 128, STAGES = 2, KV_BUFS = 2, PRODUCER_REGS = 24, CONSUMER_REGS = 240;
};
template <> struct BwdConfig90<128> {
  static constexpr int BR = 64, STAGES = 2, KV_BUFS = 1, PRODUCER_REGS = 32, CONSUMER_REGS = 232;
};

template <int HEAD_DIM>
struct Bwd90 {
  static constexpr int D = HEAD_DIM;
  static constexpr int BR = BwdConfig90<HEAD_DIM>::BR, STAGES = BwdConfig90<HEAD_DIM>::STAGES, DO_STAGES = STAGES;
  // Blocks loop over items (bwd_items.cuh). At d = 64 a second K / V buffer lets the next item's keys load during
  // this item's steps; it fits only without the 1024 bytes of slack for aligning the window (bwd_window_base).
  static constexpr int KV_BUFS = BwdConfig90<HEAD_DIM>::KV_BUFS, ALIGN_SLACK = KV_BUFS > 1 ? 0 : 1024;
  // Producer lanes that copy each step's lse and D rows: warps 1-2, at most two rows each (one warp with four rows
  // a lane spilled under the producer's 24 registers once the blocks looped over items); warp 3 counts the items.
  static constexpr int ROW_LANES = 64;
  static constexpr int CONSUMERS = 2, BC = 64 * CONSUMERS;  // each consumer warpgroup owns 64 keys
  static constexpr int CONSUMER_THREADS = 128 * CONSUMERS, THREADS = 128 + CONSUMER_THREADS;
  static constexpr int KV_BYTES = BC * D * 2, Q_BYTES = BR * D * 2, DS_BYTES = BC * BR * 2;
  // Tiles are stored in bands of 64 columns (128 bytes per row, TMA's 128-byte swizzle): bytes per band. dS has
  // one band per consumer warpgroup's 64 keys.
  static constexpr int KV_BAND = BC * 128, Q_BAND = BR * 128, DS_BAND = BR * 128;
  // dQ_i (BR x D) in 64 x 64 blocks, one per consumer warpgroup.
  static constexpr int DQ_ROW_BLOCKS = BR / 64;
  static_assert(DQ_ROW_BLOCKS * (D / 64) == CONSUMERS, "one 64 x 64 block of dQ per consumer warpgroup");
  static constexpr int OFF_K = 0, OFF_V = KV_BYTES, OFF_Q = KV_BUFS * 2 * KV_BYTES;
  static constexpr int OFF_DO = OFF_Q + STAGES * Q_BYTES;
  static constexpr int OFF_DS = OFF_DO + STAGES * Q_BYTES;  // two dS buffers: one step's dQ reads overlap the next's writes
  // Per consumer warp, its dQ stage (stage_dq_block); at the end its dK and dV rows pass through it (epilogue.cuh).
  static constexpr int OFF_DQ = OFF_DS + 2 * DS_BYTES;
  // [STAGES][BR] lse * log2e (+inf: no key or past lq)
  static constexpr int OFF_LSE = OFF_DQ + (CONSUMER_THREADS / 32) * DQ_WARP_STAGE_BYTES;
  static_assert(OFF_DQ % 1024 == 0, "the dQ stages start on the 128-byte swizzle's 1024-byte period");
  static constexpr int OFF_DVEC = OFF_LSE + STAGES * BR * 4;  // [STAGES][BR] D
  static constexpr int OFF_BARRIERS = OFF_DVEC + STAGES * BR * 4;
  // After bwd_tiles.cuh's barriers: per dS buffer, "stored by both consumers" and "read by both consumers' dQ".
  static constexpr int OFF_DS_BARRIERS = OFF_BARRIERS + bwd_barrier_bytes<Bwd90>();
  // The items' count for bwd_dq (bwd_items.cuh's DqCount), after the dS barriers. Each step adds its dQ in one bulk
  // group a warp, and an item's last step is added before the item ends (the one-step lag stays inside the item),
  // so at an item's end all but its newest group belong to it or are complete.
  static constexpr bool COUNTS_DQ_ITEMS = true;
  // The row lanes may wait on bwd_pre_side's ready flags (bwd_items.cuh). At d = 64 the wait is a call, the form
  // measured (bench/NOTES.md SIDE64); inlined or called, it spills 8 bytes of the producer's 24 registers there (accepted
  // by name: scripts/build-kernels.mjs ACCEPTED_SPILLS).
  static constexpr bool WAITS_FOR_READY_ROWS = true, READY_WAIT_CALLED = D < 128;
  static constexpr int DQ_GROUPS_LAST_STEP = 1;
  static constexpr int OFF_COUNT = OFF_DS_BARRIERS + 4 * 8;
  static constexpr int SMEM_BYTES = OFF_COUNT + DqCount<Bwd90>::BYTES + ALIGN_SLACK;
  static __device__ __forceinline__ void init_own_barriers(uint32_t base) {
    for (int i = 0; i < 4; ++i) mbar_init(base + OFF_DS_BARRIERS + 8u * i, CONSUMER_THREADS);
    DqCount<Bwd90>::init(base);
  }
  // Named barriers between the two consumers (id 0 is __syncthreads): each item's start offset, on two barriers by
  // the item's parity (START + 2 * parity), and the item count's (bwd_items.cuh: an item without steps, the block's
  // end).
  static constexpr int START = 2, EPILOGUE = 3;
  // Registers per thread after setmaxnreg. The block starts with LAUNCH_REGS per thread (the register file over
  // 384 threads, in steps of 8), and setmaxnreg.inc only hands out what .dec gave back inside the block: with more
  // than LAUNCH_REGS * THREADS in total the consumers wait forever (seen: 32 / 240 hung).
  static constexpr int LAUNCH_REGS = 65536 / THREADS / 8 * 8;
  static constexpr int PRODUCER_REGS = BwdConfig90<HEAD_DIM>::PRODUCER_REGS;
  static constexpr int CONSUMER_REGS = BwdConfig90<HEAD_DIM>::CONSUMER_REGS;
  static_assert(PRODUCER_REGS * 128 + CONSUMER_REGS * CONSUMER_THREADS <= LAUNCH_REGS * THREADS, "register budget");
  static_assert(D % 64 == 0 && BR % 64 == 0, "whole 64-column bands");
  static_assert(staged_rows_bytes<D / 8>() <= DQ_WARP_STAGE_BYTES, "a warp's dK or dV rows fit its dQ stage");
  static_assert(SMEM_BYTES <= MAX_SMEM_BYTES, "the most shared memory a block may have on sm_90");
};

// Key rows `key` and key + 8 of this thread's dK and dV accumulators (N columns from col0, two per n8 block of
// four registers), dK scaled by softmax_scale, each element written once. d is a multiple of 8 on the Hopper path,
// so a pair of columns is either all in or all out.
template <class DT, int N>
__device__ __forceinline__ void store_dk_dv(const FlashParams& p, int b, int kh, int key, int col0, int t,
                                            const float (&dk)[N / 2], const float (&dv)[N / 2]) {
  using T = typename DT::T;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (key + 8 * r >= p.lk) continue;
    const int64_t at = ((int64_t(b) * p.lk + key + 8 * r) * p.hk + kh) * p.d;
#pragma unroll
    for (int nt = 0; nt < N / 8; ++nt) {
      const int col = col0 + 8 * nt + 2 * t;
      if (col >= p.d) continue;
      const float k0 = dk[4 * nt + 2 * r] * p.softmax_scale, k1 = dk[4 * nt + 2 * r + 1] * p.softmax_scale;
      const float v0 = dv[4 * nt + 2 * r], v1 = dv[4 * nt + 2 * r + 1];
      if (p.out_float32) {
        *reinterpret_cast<float2*>(reinterpret_cast<float*>(p.dk) + at + col) = make_float2(k0, k1);
        *reinterpret_cast<float2*>(reinterpret_cast<float*>(p.dv) + at + col) = make_float2(v0, v1);
      } else {
        *reinterpret_cast<uint32_t*>(reinterpret_cast<T*>(p.dk) + at + col) = DT::pack(k0, k1);
        *reinterpret_cast<uint32_t*>(reinterpret_cast<T*>(p.dv) + at + col) = DT::pack(v0, v1);
      }
    }
  }
}

// A consumer warpgroup's scores S^T (64 keys from key0: this thread's rows warp_row + g and + 8; BR queries from i0:
// columns 8 nt + 2 t and + 1) to probabilities P^T in place: exp2(S^T * scale * log2e - lse * log2e), with `lse`
// the step's rows in log2 units (+inf where P must be 0), then 0 where the mask forbids the pair. The mask is
// applied only on tiles that straddle a mask edge or the end of q or k: each key against the queries that may see it.
template <int BR>
__device__ __forceinline__ void probabilities_t(const FlashParams& p, const flash::Mask& mask, float (&s)[BR / 2],
                                                const float* lse, int i0, int key0, int warp_row, int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int nt = 0; nt < BR / 8; ++nt) {
    const float2 l2 = *reinterpret_cast<const float2*>(lse + 8 * nt + 2 * t);
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
      for (int e = 0; e < 2; ++e)
        s[4 * nt + 2 * r + e] = flash::exp2_approx(fmaf(s[4 * nt + 2 * r + e], p.softmax_scale_log2, -(e ? l2.y : l2.x)));
  }
  if (mask.tile_needs_mask(i0, i0 + BR - 1, key0, key0 + 63)) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      int lo, hi;
      mask.col_range(key0 + warp_row + g + 8 * r, &lo, &hi);
#pragma unroll
      for (int nt = 0; nt < BR / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int i = i0 + 8 * nt + 2 * t + e;
          if (i < lo || i > hi) s[4 * nt + 2 * r + e] = 0.f;
        }
    }
  }
}

// A consumer warpgroup: its 64 keys' dK and dV over every step, its block of each step's dQ (WITH_DQ: with dq_accum;
// without, the deterministic backward).
template <class DT, int D, bool WITH_DQ>
__device__ __forceinline__ void bwd_consumer(const BwdArgs& args, const BwdBlock<Bwd90<D>>& blk) {
  using F = Bwd90<D>;
  const FlashParams& p = args.p;
  using T = typename DT::T;
  constexpr int BR = F::BR;
  constexpr int NS = BR / 2, NKV = D / 2;  // accumulator registers per thread: S^T, dP^T (64 x BR); dK, dV (64 x D)
  using flash::P_ONE_BAND;  // probabilities within this of 1 count as 1 in dS (common/softmax_consts.cuh)
  const flash::Mask mask(p);
  const int ct = threadIdx.x - 128, w = warp_uniform(ct / 128);  // warpgroup w owns keys [j0 + 64 w, j0 + 64 w + 64)
  const int warp_row = ((ct / 32) % 4) * 16, lane = ct & 31, g = lane >> 2, t = lane & 3;
  const int key0 = blk.j0 + 64 * w;  // this warpgroup's first key
  // This warpgroup's 64 x 64 block of dQ_i: its first query row and head-dim column.
  const int dq_rows = 64 * (w % F::DQ_ROW_BLOCKS), dq_cols = 64 * (w / F::DQ_ROW_BLOCKS);

  float dv[NKV], dk[NKV];
#pragma unroll
  for (int i = 0; i < NKV; ++i) dv[i] = dk[i] = 0.f;

  // dS buffer b: its base, and the barriers that say both consumers stored it / both consumers' dQ read it.
  // Steps count on over the block's items (blk.step0): buffer and barrier phase of global step gs.
  auto ds_tile = [&](int b) { return blk.base + F::OFF_DS + b * F::DS_BYTES; };
  auto ds_stored = [&](int b) { return blk.base + F::OFF_DS_BARRIERS + 8u * b; };
  auto ds_read = [&](int b) { return blk.base + F::OFF_DS_BARRIERS + 8u * (2 + b); };
  // This warpgroup's 64 x 64 block of dQ_i = dS K_j over all BC keys (16 keys per k step, four per 64-key band of
  // dS), issued and committed: A = 64 rows of dS (K-major), B = a 64-column band of K_j (N = head dim, N-major).
  // Descriptors are built once per tile and moved along it by constant offsets (desc_advance).
  const uint64_t k_band_n = desc_n_major(blk.sK() + (dq_cols / 64) * F::KV_BAND, F::KV_BAND);
  const uint64_t k_rows = desc_k_major(blk.sK() + 64 * w * 128), v_rows = desc_k_major(blk.sV() + 64 * w * 128);
  auto issue_dq = [&](float (&dq)[32], uint32_t sdS) {
    const uint64_t ds_rows = desc_k_major(sdS + dq_rows * 128);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < F::BC / 16; ++kk)
      Wgmma<64>::ss_kn(dq, desc_k_step<F::DS_BAND>(ds_rows, kk),
                       desc_advance(k_band_n, kk * 16 * 128), kk > 0, T());
    wgmma_commit();
  };
  // A finished block of dQ of step st into dq_accum (through this warp's stage, by TMA reductions).
  const uint32_t dq_stage = blk.base + F::OFF_DQ + (ct / 32) * DQ_WARP_STAGE_BYTES;
  // Staged at the end of a step, added behind the next step's first products (whose issue the proxy fence would
  // otherwise hold up: ncu put 11% of the warps' stall samples on it there). `staged`: the step of the block staged
  // and not yet added, or -1.
  int staged = -1;
  auto stage_dq = [&](const float (&dq)[32], int st) {
    stage_dq_block(dq_stage, dq, lane);
    staged = st;
  };
  auto flush_dq = [&] {
    if (staged < 0) return;
    flush_dq_block(args, dq_stage, blk.b, blk.head_of(staged), blk.row_of(staged) + dq_rows + warp_row, dq_cols, lane);
    staged = -1;
  };

  // Besides the stages, the consumers are coupled only through dS^T: step st's dQ needs both warpgroups' dS^T_st,
  // so each warpgroup computes it one step late (after its own products of step st + 1), when the other has long
  // stored it. That lets them run half a step apart, one's softmax beside the other's products: warpgroup 1 starts
  // once warpgroup 0 has its first P^T (named barrier `start`).
  // The deterministic backward computes dq in bwd_dq_det and passes no dq_accum: no dQ products, no reductions.
  constexpr bool with_dq = WITH_DQ;
  // Items with steps alternate between two start barriers. Without dQ (no dS wait at an item's end) and with two K / V
  // buffers (d = 64), warpgroup 0 can finish a one-step item and arrive for the next one's start before warpgroup 1
  // has synced on this one's: on one barrier, those two arrivals would complete it without warpgroup 1, which would
  // then wait one generation behind to the end. Arriving for the item after next needs the stage that warpgroup 1
  // frees only after its sync on this item, so two barriers suffice.
  const int start = F::START + 2 * blk.kv_use_parity();
  if (blk.steps > 0) mbar_wait(blk.kv_full(), blk.kv_parity);
  for (int st = 0; st < blk.steps; ++st) {
    const int s = blk.stage_of(st), i0 = blk.row_of(st), gs = blk.step0 + st;
    const uint32_t sQ = blk.sQ(s), sdO = blk.sdO(s), sdS = ds_tile(gs & 1);
    mbar_wait(blk.full(s), blk.phase_of(st));
    if (st == 0 && w == 1) named_sync(start, F::CONSUMER_THREADS);

    // S^T = K_w Q_i^T and dP^T = V_w dO_i^T: D / 16 steps of k16 each, four steps per 64-column band.
    float sc[NS], dp[NS];
    const uint64_t q_rows = desc_k_major(sQ), do_rows = desc_k_major(sdO);
    wgmma_fence();
    wgmma_banded_ss<BR, D, F::KV_BAND, F::Q_BAND, T>(sc, k_rows, q_rows);
    wgmma_commit();
    wgmma_banded_ss<BR, D, F::KV_BAND, F::Q_BAND, T>(dp, v_rows, do_rows);
    wgmma_commit();
    flush_dq();  // the dQ block staged at the end of the step before

    // P^T while dP^T is still in flight. Element (key row, query column) of nt, r, e: column 8 nt + 2 t + e.
    const float* lse = blk.lse(s);
    const float* dvec = blk.dvec(s);
    wgmma_wait<1>();
    fence_registers(sc);
    probabilities_t<BR>(p, mask, sc, lse, i0, key0, warp_row, lane);
    if (st == 0 && w == 0) named_arrive(start, F::CONSUMER_THREADS);
    wgmma_wait<0>();
    fence_registers(dp);
    // dS^T = P^T o (dP^T - D). Where P rounds to 1 the row's other probabilities sum to under P_ONE_BAND, so the
    // exact limit 0 replaces the float32 residue of dP - D (two sums of one dot product in different orders).
#pragma unroll
    for (int nt = 0; nt < BR / 8; ++nt) {
      const float2 d2 = *reinterpret_cast<const float2*>(dvec + 8 * nt + 2 * t);
#pragma unroll
      for (int r = 0; r < 2; ++r)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float pv = sc[4 * nt + 2 * r + e];
          dp[4 * nt + 2 * r + e] = (pv >= 1.f - P_ONE_BAND ? 0.f : pv) * (dp[4 * nt + 2 * r + e] - (e ? d2.y : d2.x));
        }
    }
    // P^T and dS^T into the A layout of k16 steps over the query dimension (two n8 accumulator blocks per step).
    uint32_t pa[BR / 16][4], da[BR / 16][4];
#pragma unroll
    for (int kk = 0; kk < BR / 16; ++kk)
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        pa[kk][q] = DT::pack(sc[8 * kk + 2 * q], sc[8 * kk + 2 * q + 1]);
        da[kk][q] = DT::pack(dp[8 * kk + 2 * q], dp[8 * kk + 2 * q + 1]);
      }

    // dV_w += P^T dO_i (16 query rows, two 8-row atoms of dO_i, per k16 step) runs while dS^T goes to shared memory.
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BR / 16; ++kk)
      Wgmma<D>::rs(dv, pa[kk], desc_advance(desc_n_major(sdO, F::Q_BAND), kk * 16 * 128), T());
    wgmma_commit();

    // dS^T to shared memory as dS (row = query, band w holds this warpgroup's 64 keys, 128-byte swizzle: chunk c of
    // row r at c ^ (r % 8)), for the dQ product that needs both warpgroups' keys, once both consumers' dQ of step
    // st - 2 has read the buffer. da[kk] is four 8 x 8 blocks (query columns 16 kk + 8 (q / 2), key rows warp_row +
    // 8 (q % 2)); lane 8 q + c addresses query 16 kk + 8 (q / 2) + c, key chunk warp_row / 8 + q % 2.
    // Without dQ (the deterministic backward) nothing reads dS from shared memory: dK takes dS^T from registers.
    if constexpr (with_dq) {
      mbar_wait(ds_read(gs & 1), ((gs >> 1) & 1) ^ 1);
      const int q = lane / 8, c = lane % 8, query = 8 * (q / 2) + c;
      const uint32_t at = sdS + w * F::DS_BAND + query * 128 + (((warp_row / 8 + q % 2) ^ c) * 16);
#pragma unroll
      for (int kk = 0; kk < BR / 16; ++kk) stmatrix_x4_trans(at + kk * 16 * 128, da[kk]);
    }

    // dK_w += dS^T Q_i, issued before the proxy fence: the fence waits for the stores above, which queue behind the
    // products' shared-memory reads, and dV and dK keep the tensor cores busy meanwhile (ncu put 8% of the warps'
    // stall samples on this fence when it came first). dK reads dS^T from registers, so it needs no fence; the
    // stores read da before the product is issued (wgmma's A registers may not be touched while it runs).
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BR / 16; ++kk)
      Wgmma<D>::rs(dk, da[kk], desc_advance(desc_n_major(sQ, F::Q_BAND), kk * 16 * 128), T());
    wgmma_commit();
    if constexpr (with_dq) {
      fence_proxy_async_smem();  // the generic-proxy stores of dS are read next by wgmma (async proxy): dQ
      mbar_arrive(ds_stored(gs & 1));
    }

    // dQ of the step before (whose dS^T both consumers have stored by now, or soon).
    if (with_dq && st > 0) {
      float dq[32];
      // dV first (its A registers, P^T, are then free for dQ's accumulators), then dQ behind dK.
      wgmma_wait<1>();
      fence_registers(dv);
      mbar_wait(ds_stored((gs - 1) & 1), ((gs - 1) >> 1) & 1);
      issue_dq(dq, ds_tile((gs - 1) & 1));
      wgmma_wait<1>();  // dK (groups complete in order)
      fence_registers(dk);
      mbar_arrive(blk.empty(s));  // Q_i, dO_i, lse and D of stage s are no longer read
      wgmma_wait<0>();
      fence_registers(dq);
      stage_dq(dq, st - 1);
      mbar_arrive(ds_read((gs - 1) & 1));
    } else {
      wgmma_wait<0>();
      fence_registers(dv);
      fence_registers(dk);
      mbar_arrive(blk.empty(s));
    }
  }
  // The last step's dQ; then K / V are no longer read, and the producer may load the next item's keys over them.
  if (blk.steps > 0) {
    const int last = blk.steps - 1, gl = blk.step0 + last;
    if constexpr (with_dq) {
      float dq[32];
      mbar_wait(ds_stored(gl & 1), (gl >> 1) & 1);
      issue_dq(dq, ds_tile(gl & 1));
      wgmma_wait<0>();
      fence_registers(dq);
      mbar_arrive(blk.kv_empty());
      flush_dq();
      stage_dq(dq, last);
      flush_dq();
      mbar_arrive(ds_read(gl & 1));
    } else {
      mbar_arrive(blk.kv_empty());
    }
  }

  // dK_w (scaled) and dV_w. In 16-bit types through the warp's dQ stage (epilogue.cuh), once its last reduction has
  // read it; float32 outputs straight from registers.
  if (p.out_float32) {
    store_dk_dv<DT, D>(p, blk.b, blk.kh, key0 + warp_row + g, 0, t, dk, dv);
  } else {
    if (lane == 0) bulk_wait_group_read<0>();
    __syncwarp();
    T* const dk_rows = reinterpret_cast<T*>(p.dk) + (int64_t(blk.b) * p.lk * p.hk + blk.kh) * p.d;
    T* const dv_rows = reinterpret_cast<T*>(p.dv) + (int64_t(blk.b) * p.lk * p.hk + blk.kh) * p.d;
    const int64_t key_stride = int64_t(p.hk) * p.d;
    store_rows_staged<DT, D / 8>(dq_stage, dk, 0, p.softmax_scale, dk_rows, key_stride, key0 + warp_row, 0, p.lk, p.d,
                                 lane);
    store_rows_staged<DT, D / 8>(dq_stage, dv, 0, 1.f, dv_rows, key_stride, key0 + warp_row, 0, p.lk, p.d, lane);
  }
}

// One kernel for both modes, each consumer compiled for its own: the runtime test of dq_accum inside the step put
// the default mode's code at risk (an A / B of that form read -1..-11%: bench/NOTES.md D1).
template <class DT, int D>
__device__ __forceinline__ void bwd_kernel(const BwdArgs& args) {
  if (args.p.dq_accum != 0)
    bwd_items_run<Bwd90<D>>(args, [&](const BwdBlock<Bwd90<D>>& blk) { bwd_consumer<DT, D, true>(args, blk); });
  else
    bwd_items_run<Bwd90<D>>(args, [&](const BwdBlock<Bwd90<D>>& blk) { bwd_consumer<DT, D, false>(args, blk); });
}

}  // namespace flash90
