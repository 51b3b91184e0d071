// FlashAttention backward for Hopper (sm_90a), d = 256: the main pass (dK, dV, and dQ added into dq_accum).
//
// One item owns 80 keys (BC) of a (batch, kv head) and walks steps of 64 query rows. dK and dV of 80 keys x 256
// columns do not fit one warpgroup's registers the way bwd.cuh keeps them (keys x head dim), so they are held
// transposed, dK^T and dV^T (head dim x keys): warpgroup w owns head-dim rows [128 w, 128 w + 128) as two m64
// blocks of N = 80 keys, 160 registers per thread. Per step (paper notation):
//   S_w = Q_i K_w^T,  dP_w = dO_i V_w^T        warpgroup w takes keys [40 w, 40 w + 40): m64n40, both operands in
//                                              shared memory; no warpgroup waits for the other's scores
//   P = exp2(S * scale * log2e - lse * log2e),  dS = P o (dP - D)    (registers, rows = queries: lse, D per row)
//   P -> shared memory, row-major by query (keys 0-63 and 64-79 in two 128-byte-swizzle bands)      -> barrier
//   dV^T_w += dO_i^T P, issued before dS is stored (its tensor work covers dS's stores: bench/NOTES.md B39);
//   dS -> shared memory, the same layout                                                             -> barrier
//   dK^T_w += Q_i^T dS                          (M = head dim, N = 80 keys, K = 64 queries: A M-major, B N-major)
//   dQ_i[:, 128 w : 128 w + 128] += dS K[:, 128 w : ...]   in two 64-column blocks, added into dq_accum by TMA
//                                              reductions through per-warp stages (bwd_tiles.cuh's reduce_dq_block)
// 80 keys per block instead of 64 cut the Q / dO reads and the dQ additions per FLOP by a fifth (bench/NOTES.md B11).
// Shared memory (K, V 80 KB; Q two stages, 64 KB; P, dS 32 KB; 16 KB of dQ stage after P) leaves room for one dO
// buffer: the consumers free it once dV^T has read it (do_empty), so the next dO loads while dK^T and dQ run. P and
// dS have one buffer, rewritten once both warpgroups have finished the previous step's products (the PS_FREE
// barrier). Each warp stages its two 16 x 64 blocks of dQ (4 KB each) in the step's Q stage (first block) and in P
// and the 16 KB after it (second): written once both warpgroups' dK^T have read Q and their dV^T P (the P_READ
// barrier), read by the copy engine before the stage is released to the producer (empty) and before P is next
// stored (PS_FREE), so the two blocks' reductions never wait for each other.
// Tiles, steps and the producer warpgroup are bwd_tiles.cuh's; the blocks loop over items (bwd_items.cuh). dK and
// dV leave through shared memory (transposed back to keys x head dim) at the end, staged where dS, P and the dQ
// stages were (no step of the item reads them any more; 48 KB), so that the next item's Q and dO load meanwhile: a
// 16-bit dK or dV whole (40 KB, both consumers at once), float32 ones half the head dim at a time; dK is scaled by
// softmax_scale there.
#pragma once
#include "bwd_items.cuh"
#include "../common/dtype.cuh"
#include "products.cuh"

namespace flash90 {

template <int HEAD_DIM>
struct Bwd90Wide {
  static constexpr int D = HEAD_DIM, HALF = D / 2;  // HALF: one consumer's head-dim rows of dK^T, dV^T, dQ columns
  static constexpr int BR = 64, BC = 80, KEYS = BC / 2;  // KEYS: one consumer's keys in S and dP
  static constexpr int STAGES = 2, DO_STAGES = 1;
  // Producer warps 1-2 copy the lse and D rows, one row a lane (with warps 1-3, ptxas spilled 4 bytes under the
  // producer's 24 registers).
  static constexpr int ROW_LANES = 64;
  static constexpr int KV_BUFS = 1, ALIGN_SLACK = 1024;
  static constexpr int CONSUMER_THREADS = 256, THREADS = 128 + CONSUMER_THREADS;
  // Tiles are stored in bands of 64 columns (128 bytes per row, TMA's 128-byte swizzle): bytes per band.
  static constexpr int KV_BAND = BC * 128, Q_BAND = BR * 128;
  static constexpr int KV_BYTES = (D / 64) * KV_BAND, Q_BYTES = (D / 64) * Q_BAND;
  // P or dS: 64 query rows x 80 keys, 16-bit, keys in two bands (the second holds keys 64-79).
  static constexpr int PS_BAND = BR * 128, PS_BYTES = 2 * PS_BAND;
  static constexpr int OFF_K = 0, OFF_V = KV_BYTES, OFF_Q = 2 * KV_BYTES;
  static constexpr int OFF_DO = OFF_Q + STAGES * Q_BYTES;
  static constexpr int OFF_DS = OFF_DO + DO_STAGES * Q_BYTES, OFF_P = OFF_DS + PS_BYTES;
  // The consumer warps' stages for their second block of dQ: P, then DQ_STAGE_BYTES - PS_BYTES more.
  static constexpr int OFF_DQ = OFF_P, DQ_STAGE_BYTES = (CONSUMER_THREADS / 32) * DQ_WARP_STAGE_BYTES;
  static constexpr int OFF_LSE = OFF_DQ + DQ_STAGE_BYTES;     // [STAGES][BR] lse * log2e (+inf: no key or past lq)
  static constexpr int OFF_DVEC = OFF_LSE + STAGES * BR * 4;  // [STAGES][BR] D
  static constexpr int OFF_BARRIERS = OFF_DVEC + STAGES * BR * 4;
  // The items' count for bwd_dq (bwd_items.cuh's DqCount), after the barriers.
  static constexpr bool COUNTS_DQ_ITEMS = true;
  static constexpr bool WAITS_FOR_READY_ROWS = true, READY_WAIT_CALLED = false;  // on bwd_pre_side's flags (bwd_items.cuh), as Bwd90 at d = 128
  static constexpr int DQ_GROUPS_LAST_STEP = 2;  // its two blocks of dQ a warp, one bulk group each
  static constexpr int OFF_COUNT = OFF_BARRIERS + bwd_barrier_bytes<Bwd90Wide>();
  static constexpr int SMEM_BYTES = OFF_COUNT + DqCount<Bwd90Wide>::BYTES + ALIGN_SLACK;
  // The epilogue's float32 staging tile [BC][HALF] (one consumer's half of the head dim at a time), over dS, P and
  // the dQ stages (contiguous from OFF_DS); rows are swizzled (stage_at) so that the transposed writes are
  // conflict-free without padding.
  static constexpr int OFF_STAGE = OFF_DS;
  // See Bwd90: setmaxnreg.inc cannot hand out more than the launch allocation.
  static constexpr int LAUNCH_REGS = 65536 / THREADS / 8 * 8;
  static constexpr int PRODUCER_REGS = 24, CONSUMER_REGS = 240;
  static_assert(PRODUCER_REGS * 128 + CONSUMER_REGS * CONSUMER_THREADS <= LAUNCH_REGS * THREADS, "register budget");
  static_assert(HALF == 128 && KEYS % 8 == 0 && BC <= 128, "two m64 rows of dK^T, dV^T per consumer; keys in two bands");
  static_assert(OFF_P == OFF_DS + PS_BYTES && OFF_DQ == OFF_P && BC * HALF * 4 <= OFF_LSE - OFF_STAGE,
                "the epilogue's staging tile fits where dS, P and the dQ stages were");
  static_assert(DQ_STAGE_BYTES >= PS_BYTES, "the dQ stages cover P");
  static_assert(DQ_STAGE_BYTES <= Q_BYTES, "a Q stage holds the warps' first blocks of dQ");
  static_assert(OFF_Q % 1024 == 0 && Q_BYTES % 1024 == 0 && OFF_DQ % 1024 == 0,
                "the dQ stages (in the Q stages and at OFF_DQ) start on the 128-byte swizzle's 1024-byte period");
  static_assert(SMEM_BYTES <= MAX_SMEM_BYTES, "the most shared memory a block may have on sm_90");
  static __device__ __forceinline__ void init_own_barriers(uint32_t base) { DqCount<Bwd90Wide>::init(base); }
  // Named barriers between the two consumers (id 0 is __syncthreads).
  static constexpr int PS_FREE = 1, PS_READY = 2, EPILOGUE = 3, P_READ = 4, P_READY = 5;
};

// Scores S (this thread's query rows `row` and row + 8 of the step, key columns key0 + 8 nt + 2 t + e) to
// probabilities in place, exp2(S * scale * log2e - lse * log2e), then 0 where the mask forbids the pair; and dP to
// dS = P o (dP - D) in place. Where P rounds to 1 the row's other probabilities sum to under P_ONE_BAND, so the
// exact limit 0 replaces the float32 residue of dP - D (two sums of one dot product in different orders).
template <int N>
__device__ __forceinline__ void probabilities_and_ds(const FlashParams& p, const flash::Mask& mask, float (&s)[N / 2],
                                                     float (&dp)[N / 2], const float* lse, const float* dvec, int i0,
                                                     int row, int key0, int t) {
  using flash::P_ONE_BAND;  // common/softmax_consts.cuh
  const bool masked = mask.tile_needs_mask(i0, i0 + 63, key0, key0 + N - 1);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = lse[row + 8 * r], d = dvec[row + 8 * r];
    int lo = 0, hi = 0;
    if (masked) mask.row_range(i0 + row + 8 * r, &lo, &hi);
#pragma unroll
    for (int nt = 0; nt < N / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int at = 4 * nt + 2 * r + e, key = key0 + 8 * nt + 2 * t + e;
        float pv = flash::exp2_approx(fmaf(s[at], p.softmax_scale_log2, -l));
        if (masked && (key < lo || key > hi)) pv = 0.f;
        s[at] = pv;
        dp[at] = (pv >= 1.f - P_ONE_BAND ? 0.f : pv) * (dp[at] - d);
      }
  }
}

// This thread's 16-bit pairs of an m64nN accumulator (rows row, row + 8; key columns key0 + 8 nt + 2 t) into a
// [64 rows][keys] tile stored in 64-key bands of `band_bytes`, 128-byte swizzle (16-byte chunk c of row r at c ^ (r % 8)).
template <class DT, int N>
__device__ __forceinline__ void store_rows_swizzled(uint32_t tile, uint32_t band_bytes, const float (&a)[N / 2],
                                                    int row, int key0, int t) {
#pragma unroll
  for (int nt = 0; nt < N / 8; ++nt) {
    const int key = key0 + 8 * nt, band = key / 64, chunk = (key % 64) / 8;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int rr = row + 8 * r;
      flash::st_shared_32(tile + band * band_bytes + rr * 128 + ((chunk ^ (rr % 8)) * 16) + t * 4,
                          DT::pack(a[4 * nt + 2 * r], a[4 * nt + 2 * r + 1]));
    }
  }
}

// One consumer's half of dQ_i (64 queries x 128 columns) = dS K[:, cols], one 64-column block at a time (A = dS:
// M = queries, K = 80 keys, K-major from its row-major store; B = K: N = head dim, N-major), added into dq_accum
// through the warp's stages: the first in the step's Q stage sQ, the second at OFF_DQ. Waits for every wgmma group
// this warpgroup issued before, then for the other warpgroup's dK^T and dV^T (P_READ) before the first stage write.
template <class DT, int D>
__device__ __forceinline__ void bwd_wide_dq(const BwdArgs& args, const BwdBlock<Bwd90Wide<D>>& blk, uint32_t sQ,
                                            int hq, int i0, int w, int warp_row, int lane) {
  using F = Bwd90Wide<D>;
  using T = typename DT::T;
  const uint32_t sdS = blk.base + F::OFF_DS;
  const uint32_t warp_stage = ((threadIdx.x - 128) / 32) * DQ_WARP_STAGE_BYTES;
  const uint64_t ds_rows = desc_k_major(sdS);
#pragma unroll
  for (int c = 0; c < 2; ++c) {
    float dq[32];
    const uint64_t k_band_n = desc_n_major(blk.sK() + (2 * w + c) * F::KV_BAND, F::KV_BAND);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < F::BC / 16; ++kk)
      Wgmma<64>::ss_kn(dq, desc_k_step<F::PS_BAND>(ds_rows, kk),
                       desc_advance(k_band_n, kk * 16 * 128), kk > 0, T());
    wgmma_commit();
    wgmma_wait<0>();
    fence_registers(dq);
    if (c == 0) named_sync(F::P_READ, F::CONSUMER_THREADS);
    const uint32_t stage = c == 0 ? sQ + warp_stage : blk.base + F::OFF_DQ + warp_stage;
    reduce_dq_block<false>(args, stage, dq, blk.b, hq, i0 + warp_row, F::HALF * w + 64 * c, lane);
  }
}

// Where element (key, col) of the epilogue's staging tile lives: row-major [key][N] floats, with bits 3-4 of the
// column XORed with bits 1-2 of the key. A warp's transposed write of one accumulator block covers 8 columns for
// each of 4 keys 2 apart (keys 8 nt + 2 t + e); unswizzled they would share 8 banks, four lanes to a bank. Four
// consecutive columns stay together, for the float4 reads.
template <int N>
__device__ __forceinline__ int stage_at(int key, int col) {
  return key * N + (col ^ (((key >> 1) & 3) << 3));
}

// dK^T or dV^T (consumer w's two m64 x 80 blocks: head-dim rows 128 w + 64 h + row and + 8, key columns
// 8 nt + 2 t + e) written to float32 out as [key][head dim] rows through the float32 staging tile, scaled by
// `scale`: one consumer's half of the head dim at a time, both consumers reading it out. The first barrier of each
// half keeps earlier readers of the staging space out of its way. (16-bit outputs take bwd_wide_write_16.)
template <int D>
__device__ __forceinline__ void bwd_wide_write(const FlashParams& p, const BwdBlock<Bwd90Wide<D>>& blk, uint64_t out,
                                               const float (&acc)[2][Bwd90Wide<D>::BC / 2], float scale, int w,
                                               int row, int t) {
  using F = Bwd90Wide<D>;
  constexpr int N = F::HALF;
  float* stage = reinterpret_cast<float*>(blk.window() + F::OFF_STAGE);
#pragma unroll 1
  for (int c = 0; c < 2; ++c) {
    named_sync(F::EPILOGUE, F::CONSUMER_THREADS);
    if (w == c) {
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int nt = 0; nt < F::BC / 8; ++nt)
#pragma unroll
          for (int r = 0; r < 2; ++r)
#pragma unroll
            for (int e = 0; e < 2; ++e)
              stage[stage_at<N>(8 * nt + 2 * t + e, 64 * h + row + 8 * r)] = acc[h][4 * nt + 2 * r + e];
    }
    named_sync(F::EPILOGUE, F::CONSUMER_THREADS);
#pragma unroll 1
    for (int i = threadIdx.x - 128; i < F::BC * (N / 4); i += F::CONSUMER_THREADS) {
      const int key = i / (N / 4), col = 4 * (i % (N / 4)), gcol = N * c + col;
      if (blk.j0 + key >= p.lk || gcol >= p.d) continue;  // d is a multiple of 8: four columns are all in or all out
      float4 v = *reinterpret_cast<const float4*>(stage + stage_at<N>(key, col));
      v = make_float4(v.x * scale, v.y * scale, v.z * scale, v.w * scale);
      const int64_t at = ((int64_t(blk.b) * p.lk + blk.j0 + key) * p.hk + blk.kh) * p.d + gcol;
      reinterpret_cast<float4*>(out)[at / 4] = v;
    }
  }
}

// The same for 16-bit out, scaled and rounded to DT in registers first: the whole [80 keys][256] tile, 40 KB, fits
// the staging space at once, so both consumers stage their halves together (stmatrix .trans turns each 8 x 8 block
// of head-dim rows x keys into 8 key rows of 16 bytes) and every key row leaves as one warp's 512-byte store; one
// round per tensor where the float32 tile takes two, with an eighth of the shared-memory store instructions. Row
// `key`'s 16-byte chunk c sits at chunk c ^ (key % 8), so the 8 rows of one matrix fall in different banks.
template <class DT, int D>
__device__ __forceinline__ void bwd_wide_write_16(const FlashParams& p, const BwdBlock<Bwd90Wide<D>>& blk,
                                                  uint64_t out, const float (&acc)[2][Bwd90Wide<D>::BC / 2],
                                                  float scale, int w) {
  using F = Bwd90Wide<D>;
  using T = typename DT::T;
  constexpr int ROW_BYTES = D * 2, CHUNKS = D / 8;
  static_assert(F::BC * ROW_BYTES <= F::OFF_LSE - F::OFF_STAGE, "the 16-bit tile fits the staging space");
  const uint32_t stage = blk.base + F::OFF_STAGE;
  const int ct = threadIdx.x - 128, lane = ct & 31, warp = (ct / 32) % 4;
  // stmatrix x4 over key blocks nt, nt + 1: matrix q holds head-dim rows 8 (q % 2) .. + 7 of this warp's 16 and
  // keys 8 (nt + q / 2) .. + 7; lane 8 q + c addresses key row 8 (nt + q / 2) + c.
  const int q = lane / 8, c = lane % 8;
  named_sync(F::EPILOGUE, F::CONSUMER_THREADS);  // earlier readers of the staging space are done
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int chunk = 16 * w + 8 * h + 2 * warp + q % 2;
#pragma unroll
    for (int nt = 0; nt < F::BC / 8; nt += 2) {
      uint32_t m[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int at = 4 * (nt + j / 2) + 2 * (j % 2);
        m[j] = DT::pack(acc[h][at] * scale, acc[h][at + 1] * scale);
      }
      const int key = 8 * (nt + q / 2) + c;
      stmatrix_x4_trans(stage + key * ROW_BYTES + ((chunk ^ c) * 16), m);
    }
  }
  named_sync(F::EPILOGUE, F::CONSUMER_THREADS);
#pragma unroll 1
  for (int i = ct; i < F::BC * CHUNKS; i += F::CONSUMER_THREADS) {
    const int key = i / CHUNKS, chunk = i % CHUNKS;
    if (blk.j0 + key >= p.lk || 8 * chunk >= p.d) continue;  // d is a multiple of 8: a chunk is all in or all out
    const uint4 v = flash::ld_shared_128(stage + key * ROW_BYTES + ((chunk ^ (key % 8)) * 16));
    const int64_t at = ((int64_t(blk.b) * p.lk + blk.j0 + key) * p.hk + blk.kh) * p.d + 8 * chunk;
    *reinterpret_cast<uint4*>(reinterpret_cast<T*>(out) + at) = v;
  }
}

// Consumer warpgroup w: keys [40 w, 40 w + 40) of S and dP, head-dim rows [128 w, 128 w + 128) of dK^T and dV^T,
// columns [128 w, 128 w + 128) of each step's dQ.
template <class DT, int D>
__device__ __forceinline__ void bwd_wide_consumer(const BwdArgs& args, const BwdBlock<Bwd90Wide<D>>& blk) {
  using F = Bwd90Wide<D>;
  const FlashParams& p = args.p;
  using T = typename DT::T;
  constexpr int NS = F::KEYS / 2;  // accumulator registers of S and dP (64 x 40)
  const flash::Mask mask(p);
  const int ct = threadIdx.x - 128, w = warp_uniform(ct / 128);
  const int row = ((ct / 32) % 4) * 16 + ((ct & 31) >> 2), t = ct & 3;  // this thread's accumulator rows: row, + 8
  const int key_off = F::KEYS * w;
  const uint32_t sP = blk.base + F::OFF_P, sdS = blk.base + F::OFF_DS;

  float dvt[2][F::BC / 2], dkt[2][F::BC / 2];
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int i = 0; i < F::BC / 2; ++i) dvt[h][i] = dkt[h][i] = 0.f;

  if (blk.steps > 0) mbar_wait(blk.kv_full(), blk.kv_parity);
  for (int st = 0; st < blk.steps; ++st) {
    const int s = blk.stage_of(st), hq = blk.head_of(st), i0 = blk.row_of(st);
    const uint32_t sQ = blk.sQ(s), sdO = blk.sdO(s);
    mbar_wait(blk.full(s), blk.phase_of(st));

    // S_w = Q_i K_w^T, then dP_w = dO_i V_w^T: 16 k16 steps over the head dim, four per 64-column band.
    // A = Q_i or dO_i (queries x head dim), B = this warpgroup's keys of K or V, both K-major; one commit group.
    auto scores = [&](float (&acc)[NS], uint32_t queries, uint32_t keys) {
      const uint64_t q_rows = desc_k_major(queries), k_rows = desc_k_major(keys + key_off * 128);
      wgmma_banded_ss<F::KEYS, D, F::Q_BAND, F::KV_BAND, T>(acc, q_rows, k_rows);
      wgmma_commit();
    };
    float sc[NS], dp[NS];
    wgmma_fence();
    scores(sc, sQ, blk.sK());
    scores(dp, sdO, blk.sV());
    wgmma_wait<0>();
    fence_registers(sc);
    fence_registers(dp);
    probabilities_and_ds<F::KEYS>(p, mask, sc, dp, blk.lse(s), blk.dvec(s), i0, row, blk.j0 + key_off, t);

    // Both consumers' products of the previous step have completed (each waited for its own) and their dQ
    // reductions have read the stages (each warp's lane 0 waits for its own): P, dS are free.
    if ((ct & 31) == 0) bulk_wait_group_read<0>();
    named_sync(F::PS_FREE, F::CONSUMER_THREADS);
    store_rows_swizzled<DT, F::KEYS>(sP, F::PS_BAND, sc, row, key_off, t);
    fence_proxy_async_smem();  // the generic-proxy stores above are read next by wgmma (async proxy)
    named_sync(F::P_READY, F::CONSUMER_THREADS);

    // dV^T_w += dO_i^T P and dK^T_w += Q_i^T dS: A = dO_i / Q_i band 2 w + h read M-major (head dim contiguous),
    // B = P / dS N-major over both key bands; 16 queries per k step.
    auto accumulate_t = [&](float (&acc)[2][F::BC / 2], uint32_t queries, uint32_t probs) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const uint64_t q_band = desc_n_major(queries + (2 * w + h) * F::Q_BAND, F::Q_BAND);
        const uint64_t p_rows = desc_n_major(probs, F::PS_BAND);
#pragma unroll
        for (int kk = 0; kk < F::BR / 16; ++kk)
          Wgmma<F::BC>::ss_mn(acc[h], desc_advance(q_band, kk * 16 * 128), desc_advance(p_rows, kk * 16 * 128), 1, T());
      }
      wgmma_commit();
    };
    // dV^T needs only P: it runs while dS is stored (B39: +0.7% mean, +0.3..+2.3% at l <= 2048).
    wgmma_fence();
    accumulate_t(dvt, sdO, sP);
    store_rows_swizzled<DT, F::KEYS>(sdS, F::PS_BAND, dp, row, key_off, t);
    fence_proxy_async_smem();  // as for P
    named_sync(F::PS_READY, F::CONSUMER_THREADS);
    wgmma_fence();
    accumulate_t(dkt, sQ, sdS);
    wgmma_wait<1>();          // dV^T's group: dO_i is no longer read
    mbar_arrive(blk.do_empty());

    // dQ (waiting for dK^T too), unless the deterministic backward passed no dq_accum (bwd_dq_det computes dq).
    if (p.dq_accum != 0)
      bwd_wide_dq<DT, D>(args, blk, sQ, hq, i0, w, row & ~15, ct & 31);
    else
      wgmma_wait<0>();
    fence_registers(dvt[0]);
    fence_registers(dvt[1]);
    fence_registers(dkt[0]);
    fence_registers(dkt[1]);
    // Q_i (and this warp's first dQ block staged there: its reduction, the older of lane 0's two pending groups, has
    // read it), lse and D of stage s are no longer read.
    // (The stage's barrier cannot complete before lane 0, which arrives after its wait, so the warp need not wait.)
    if ((ct & 31) == 0) bulk_wait_group_read<1>();
    mbar_arrive(blk.empty(s));
  }

  // Every product that reads K / V has completed: the producer may load the next item's keys over them.
  if (blk.steps > 0) mbar_arrive(blk.kv_empty());
  // The staging tile covers the dQ stages at OFF_DQ: their reductions must have read them (and the last step's
  // products, waited for, have read dS and P). Whether the sums are in is waited for only at the block's end
  // (bwd_items_run).
  if ((ct & 31) == 0) bulk_wait_group_read<0>();
  if (p.out_float32) bwd_wide_write<D>(p, blk, p.dv, dvt, 1.f, w, row, t);
  else bwd_wide_write_16<DT, D>(p, blk, p.dv, dvt, 1.f, w);
  if (p.out_float32) bwd_wide_write<D>(p, blk, p.dk, dkt, p.softmax_scale, w, row, t);
  else bwd_wide_write_16<DT, D>(p, blk, p.dk, dkt, p.softmax_scale, w);
}

template <class DT, int D>
__device__ __forceinline__ void bwd_wide_kernel(const BwdArgs& args) {
  bwd_items_run<Bwd90Wide<D>>(args, [&](const BwdBlock<Bwd90Wide<D>>& blk) { bwd_wide_consumer<DT, D>(args, blk); });
}

}  // namespace flash90
