// FlashAttention forward for Hopper (sm_90a): TMA loads into a ring of shared-memory stages, wgmma for both
// products, a producer warpgroup and consumer warpgroups.
//
// The grid is persistent: min(tiles, multiprocessors) blocks over the n * h * ceil(lq / BR) tiles, a tile being
// query rows [i0, i0 + 64 * CONSUMERS) of one (batch, head). Block b starts with the b-th tile of the claim order
// and then claims the next from a global counter (FlashParams.tile_counter, zero at launch) while it works on the
// current one, so blocks that drew short tiles (under a causal mask) take more of them. A (batch, head)'s tiles are
// taken highest query block first (most keys under a causal mask: the longest tiles go first), and consecutive
// tiles share a head, so the blocks running at once read the K and V of few heads; under a causal mask the last two
// waves go longest first across heads (FwdTiles::claimed in fwd_tiles.cuh). Warpgroup 0 is
// the producer: one thread issues every TMA copy (per tile Q, once the consumers have issued their last product
// with the previous tile's Q, then K_j and V_j into STAGES-deep rings that run on across tiles, each stage guarded
// by a "full" barrier the copy engine completes and an "empty" barrier the consumers release), so the next tile's
// copies overlap this tile's last products and output. Each consumer warpgroup owns 64 query rows of the tile and
// runs, per key block j (paper notation, scores in log2 units):
//   S = Q K_j^T (wgmma, both operands in shared memory),  m_new = max(m, rowmax(S)),
//   P = exp2(S - m_new),  l = l * exp2(m - m_new) + rowsum(P),  O = O * exp2(m - m_new) + P V_j
// with P kept in registers as the A operand of the second wgmma. Inside a warpgroup the softmax of S_j overlaps
// P_{j-1} V_{j-1}; between the consumer warpgroups, named barriers make them take turns issuing products (ping-pong),
// so one's softmax overlaps the other's products. setmaxnreg moves registers from the producer (which needs few)
// to the consumers (which hold S, P and O).
// At the end lse = (m + log2 l) * ln2 and O / l are written: 16-bit O, where shared memory allows (STAGED_O), by
// TMA stores from a stage per warp, which the warps do not wait for; where O leaves from registers (DEFER_O,
// d = 256), it is packed to dtype and stored once the warpgroup has issued the first product of its next tile, so
// that the stores overlap that product (float32 output, out_float32, is stored at once).
#pragma once
#include <cuda.h>
#include "params.h"
#include "../common/mask.cuh"
#include "../common/dtype.cuh"
#include "epilogue.cuh"
#include "fwd_tiles.cuh"
#include "ptx90.cuh"
#include "products.cuh"

namespace flash90 {

constexpr float LN2 = 0.6931471805599453f;

// The copies of one tile with keys: Q (once the consumers are done with the last one), then K_j and V_j into the
// stage rings as the consumers free them; `it` counts key blocks over all of the block's tiles.
template <int D>
__device__ __forceinline__ void fwd_produce_tile(const FwdArgs& args, const FwdSmem<D>& sm, const FwdTile& tile, int& it,
                                                 int& q_loads) {
  using F = Fwd90<D>;
  constexpr int BC = F::BC, STAGES = F::STAGES;
  mbar_wait(sm.q_empty(), (q_loads & 1) ^ 1);
  ++q_loads;
  mbar_arrive_expect_tx(sm.q_full(), F::Q_BYTES);
  for (int band = 0; band < F::BANDS; ++band)
    tma_load_4d(sm.sQ + band * F::Q_BAND, &args.q, band * 64, tile.i0, tile.head, tile.b, sm.q_full());
  for (int nb = tile.nb_first; nb <= tile.nb_last; ++nb, ++it) {
    const int s = it % STAGES;
    const uint32_t parity = ((it / STAGES) & 1) ^ 1;
    mbar_wait(sm.k_empty(s), parity);
    mbar_arrive_expect_tx(sm.k_full(s), F::KV_BYTES);
    for (int band = 0; band < F::BANDS; ++band)
      tma_load_4d(sm.sK + s * F::KV_BYTES + band * F::KV_BAND, &args.k, band * 64, nb * BC, tile.kh, tile.b, sm.k_full(s));
    mbar_wait(sm.v_empty(s), parity);
    mbar_arrive_expect_tx(sm.v_full(s), F::KV_BYTES);
    for (int band = 0; band < F::BANDS; ++band)
      tma_load_4d(sm.sV + s * F::KV_BYTES + band * F::KV_BAND, &args.v, band * 64, nb * BC, tile.kh, tile.b, sm.v_full(s));
  }
}

// One thread claims the tiles and issues every copy: it hands each tile's number to the consumers (slot k % 2 for
// the block's k-th tile; a number past the last tile ends them), then issues the tile's copies.
template <int D>
__device__ __forceinline__ void fwd_producer(const FwdArgs& args, const FwdSmem<D>& sm) {
  prefetch_tensor_map(&args.q);
  prefetch_tensor_map(&args.k);
  prefetch_tensor_map(&args.v);
  if (Fwd90<D>::STAGED_O) prefetch_tensor_map(&args.o);  // the consumers store through it
  const FwdTiles<D> tiles(args.p);
  int it = 0, q_loads = 0;
  for (int k = 0, t = blockIdx.x;; ++k) {
    const int u = t < tiles.count ? tiles.claimed(args.p, t) : t;
    mbar_wait(sm.tile_empty(k & 1), ((k >> 1) & 1) ^ 1);
    flash::st_shared_32(sm.tile_slot(k & 1), uint32_t(u));
    mbar_arrive(sm.tile_full(k & 1));  // release: the slot's store is seen by whoever waits on this phase
    if (t >= tiles.count) break;
    const FwdTile tile = tiles.at(args.p, u);
    if (tile.has_keys()) fwd_produce_tile<D>(args, sm, tile, it, q_loads);
    // The next tile, claimed once this one's copies are all issued (STAGES key blocks before its end), not when it
    // starts: a block then holds a claim only for what it can start soon, which keeps the blocks' finishing times
    // together (claiming a tile ahead lost 11% at d = 256, causal, 8k: bench/NOTES.md F2).
    t = int(gridDim.x + atomicAdd(reinterpret_cast<unsigned int*>(args.p.tile_counter), 1u));
  }
}

// The epilogue under DEFER_O: lse written, O / l packed into o_packed for fwd_store_packed, and written now when it
// is float32. o_packed is written whatever the output type: left unwritten on one path, the previous tile's packed O
// would stay live through this whole tile (the forward spilled at d = 256; so it did with O normalized in place).
template <class DT, int D>
__device__ __forceinline__ void fwd_pack_rows(const FlashParams& p, const FwdTile& tile, const float (&o_acc)[D / 2],
                                              const float (&m_run)[2], const float (&l_run)[2],
                                              uint32_t (&o_packed)[D / 4]) {
  const int ct = threadIdx.x - 128;
  const int warp_row = warp_uniform(ct / 128) * 64 + ((ct / 32) % 4) * 16;
  const int lane = ct & 31, g = lane >> 2, t = lane & 3;
  float* lse = reinterpret_cast<float*>(p.lse) + (int64_t(tile.b) * p.h + tile.head) * p.lq;
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = l_run[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    inv[r] = l > 0.f ? 1.f / l : 0.f;
    const int row = tile.i0 + warp_row + g + r * 8;
    if (t == 0 && row >= 0) lse[row] = l > 0.f ? (m_run[r] + __log2f(l)) * LN2 : -INFINITY;
  }
#pragma unroll
  for (int nt = 0; nt < D / 8; ++nt)
#pragma unroll
    for (int r = 0; r < 2; ++r)
      o_packed[2 * nt + r] = DT::pack(o_acc[4 * nt + 2 * r] * inv[r], o_acc[4 * nt + 2 * r + 1] * inv[r]);
  if (!p.out_float32) return;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = tile.i0 + warp_row + g + r * 8;
    if (row < 0) continue;  // rows of the partial first tile before row 0
    float* const at = reinterpret_cast<float*>(p.o) + ((int64_t(tile.b) * p.lq + row) * p.h + tile.head) * p.d;
#pragma unroll
    for (int nt = 0; nt < D / 8; ++nt) {
      const int col = nt * 8 + 2 * t;
      if (col < p.d)  // d is a multiple of 8 on this path: a pair is either all in or all out
        *reinterpret_cast<float2*>(at + col) =
            make_float2(o_acc[4 * nt + 2 * r] * inv[r], o_acc[4 * nt + 2 * r + 1] * inv[r]);
    }
  }
}

// The deferred store (DEFER_O): a consumer thread's rows of 16-bit O, packed at the end of their tile, 16 bytes a
// lane (epilogue.cuh; F13).
template <class DT, int D>
__device__ __forceinline__ void fwd_store_packed(const FlashParams& p, const FwdTile& tile,
                                                 const uint32_t (&o_packed)[D / 4]) {
  using T = typename DT::T;
  const int ct = threadIdx.x - 128;
  const int warp_row = warp_uniform(ct / 128) * 64 + ((ct / 32) % 4) * 16;
  T* const rows = reinterpret_cast<T*>(p.o) + (int64_t(tile.b) * p.lq * p.h + tile.head) * p.d;
  store_packed_rows_by_quads<DT>(o_packed, rows, int64_t(p.h) * p.d, tile.i0 + warp_row, p.d, ct & 31);
}

// A consumer warpgroup on one tile: its 64 query rows from first product to written output. `it` (key blocks over
// the block's earlier tiles) and `q_loads` (Q tiles consumed) carry the barrier phases from tile to tile. Under
// DEFER_O, o_packed holds on entry the previous tile's O (of tile `pending`, when `store_pending`), stored once this
// tile's first product is issued (at once where this warpgroup issues none in this tile), and on return this tile's;
// fwd_consumer stores the block's last.
template <class DT, int D>
__device__ __forceinline__ void fwd_consumer_tile(const FwdArgs& args, const FwdSmem<D>& sm, const FwdTile& tile,
                                                  int& it, int& q_loads, uint32_t (&o_packed)[D / 4],
                                                  FwdTile& pending, bool& store_pending) {
  using F = Fwd90<D>;
  using T = typename DT::T;
  constexpr int BC = F::BC, STAGES = F::STAGES;
  constexpr int NS = BC / 2, NO = D / 2;  // accumulator registers per thread: S (64 x BC), O (64 x D)
  const FlashParams& p = args.p;
  const flash::Mask mask(p);
  const int head = tile.head, b = tile.b, i0 = tile.i0, i_first = tile.i_first, i_last = tile.i_last;
  const int nb_first = tile.nb_first, nb_last = tile.nb_last;
  const uint32_t sQ = sm.sQ, sK = sm.sK, sV = sm.sV;
  auto k_full = [&](int s) { return sm.k_full(s); };
  auto k_empty = [&](int s) { return sm.k_empty(s); };
  auto v_full = [&](int s) { return sm.v_full(s); };
  auto v_empty = [&](int s) { return sm.v_empty(s); };
  const uint32_t q_full = sm.q_full();
  const int ct = threadIdx.x - 128;          // 0 .. CONSUMER_THREADS - 1
  const int consumer = warp_uniform(ct / 128);
  const int row0 = consumer * 64;            // this warpgroup's first row inside the block
  const int warp_row = row0 + ((ct / 32) % 4) * 16;
  const int lane = ct & 31, g = lane >> 2, t = lane & 3;

  float o_acc[NO];
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};
#pragma unroll
  for (int i = 0; i < NO; ++i) o_acc[i] = 0.f;
  auto write_pending = [&]() {
    if constexpr (F::DEFER_O) {
      if (store_pending) fwd_store_packed<DT, D>(p, pending, o_packed);
      store_pending = false;
    }
  };

  // S = Q K^T from stage s: D / 16 steps of k16; a step moves 32 bytes along a band, four steps fill one band.
  // Descriptors are built once per tile and moved along it by constant offsets (desc_advance).
  const uint64_t q_rows = desc_k_major(sQ + row0 * 128);
  auto issue_qk = [&](float (&sc)[NS], int s) {
    const uint64_t k_rows = desc_k_major(sK + s * F::KV_BYTES);
    wgmma_banded_ss<BC, D, F::Q_BAND, F::KV_BAND, T>(sc, q_rows, k_rows);
  };
  // O += P V from stage s; 16 keys (two 8-row atoms of V) per step.
  auto issue_pv = [&](const uint32_t (&pa)[BC / 16][4], int s) {
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk)
      Wgmma<D>::rs(o_acc, pa[kk], desc_advance(desc_n_major(sV + s * F::KV_BYTES, F::KV_BAND), kk * 16 * 128), T());
  };
  // Scores of key block j0 to probabilities in place: mask, online softmax for rows g (r = 0) and g + 8 (r = 1)
  // (a row's BC columns live in the 4 threads of a quad). Returns each row's rescale factor for O.
  auto softmax = [&](float (&sc)[NS], int j0, float (&alpha)[2]) {
    // The scale goes into the exp2 argument (one FFMA per score) when it is positive, the usual case; otherwise
    // the scores are scaled first and the running max is taken over scaled scores.
    float c = p.softmax_scale_log2;
    if (!(c > 0.f)) {
#pragma unroll
      for (int i = 0; i < NS; ++i) sc[i] *= c;
      c = 1.f;
    }
    if (mask.tile_needs_mask(i_first, i_last, j0, j0 + BC - 1)) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        int lo, hi;
        mask.row_range(i0 + warp_row + g + r * 8, &lo, &hi);
#pragma unroll
        for (int nt = 0; nt < BC / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int j = j0 + nt * 8 + 2 * t + e;
            if (j < lo || j > hi) sc[4 * nt + 2 * r + e] = -INFINITY;
          }
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < BC / 8; ++nt) mx = fmaxf(mx, fmaxf(sc[4 * nt + 2 * r], sc[4 * nt + 2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m_run[r], mx * c);  // log2 units
      // A row that has seen only masked keys keeps m = -inf; subtracting 0 keeps exp2 at 0, never NaN.
      const float m_use = m_new == -INFINITY ? 0.f : m_new;
      alpha[r] = flash::exp2_approx(m_run[r] - m_use);
      m_run[r] = m_new;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < BC / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float pv = flash::exp2_approx(fmaf(sc[4 * nt + 2 * r + e], c, -m_use));
          sc[4 * nt + 2 * r + e] = pv;
          sum += pv;
        }
      l_run[r] = l_run[r] * alpha[r] + sum;
    }
  };
  // P into the A layout of the PV product: the accumulator layout of two n8 blocks is the A layout of one k16 step.
  auto pack_p = [&](const float (&sc)[NS], uint32_t (&pa)[BC / 16][4]) {
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      pa[kk][0] = DT::pack(sc[8 * kk + 0], sc[8 * kk + 1]);
      pa[kk][1] = DT::pack(sc[8 * kk + 2], sc[8 * kk + 3]);
      pa[kk][2] = DT::pack(sc[8 * kk + 4], sc[8 * kk + 5]);
      pa[kk][3] = DT::pack(sc[8 * kk + 6], sc[8 * kk + 7]);
    }
  };

  // Software pipeline inside the warpgroup: while P_{j-1} V_{j-1} runs on the tensor cores, the softmax of
  // S_j = Q K_j^T runs on the other units. Once P_{j-1} V_{j-1} has landed, O is rescaled by S_j's factor and P_j
  // is packed: the registers an in-flight wgmma reads must not be rewritten (ptxas would serialize the wgmmas).
  // Ping-pong: the consumer warpgroups take turns issuing their matrix products (named barrier 1 + c is consumer
  // c's turn; it passes the turn to the next one), so one's products run while the others compute softmax. The
  // turns run on across tiles (fwd_consumer starts them). Q is released to the producer once the warpgroup's last
  // S = Q K_j^T has completed.
  const int my_turn = 1 + consumer, their_turn = 1 + (consumer + 1) % F::CONSUMERS;
  // This warpgroup's own last key block. Its 64 rows may see fewer blocks than the tile's last rows (under a right
  // mask edge: the first rows of a causal tile) or none (the rows before row 0 of the partial first tile, e.g. one or
  // two of d = 64's three warpgroups at l = 512, 1024): past w_last it computes nothing and only keeps the turns and
  // the stages' barriers going.
  // Without a right mask edge, only the partial first tile can differ (measured: computing it for every tile cost
  // ~1% at l = 512).
  int w_last = nb_last;
  if (p.window_right >= 0 || i0 + row0 < 0) {
    const int w_lo = max(i0 + row0, 0), w_hi = min(i0 + row0 + 63, i_last);
    int64_t j_lo, j_hi;
    mask.keys_for(w_lo, w_hi, &j_lo, &j_hi);
    w_last = w_lo <= w_hi && j_hi >= j_lo ? max(nb_first - 1, min(nb_last, int(j_hi / BC))) : nb_first - 1;
  }
  if (nb_first <= nb_last) {
    const int it0 = it;
    mbar_wait(q_full, q_loads & 1);
    ++q_loads;
    if (w_last >= nb_first) {
      float sc[NS];
      uint32_t pa[BC / 16][4];
      float alpha[2];
      const int s0 = it0 % STAGES;
      mbar_wait(k_full(s0), (it0 / STAGES) & 1);
      named_sync(my_turn, 256);
      wgmma_fence();
      issue_qk(sc, s0);
      wgmma_commit();
      named_arrive(their_turn, 256);
      write_pending();  // while S runs
      wgmma_wait<0>();
      fence_registers(sc);
      mbar_arrive(k_empty(s0));
      if (nb_first == w_last) mbar_arrive(sm.q_empty());
      softmax(sc, nb_first * BC, alpha);  // O is still 0: nothing to rescale
      pack_p(sc, pa);
      for (int nb = nb_first + 1, jt = it0 + 1; nb <= w_last; ++nb, ++jt) {
        const int s = jt % STAGES, prev = (jt - 1) % STAGES;
        // Both waits before the fence: a branch between the two issues would make ptxas fence again.
        mbar_wait(k_full(s), (jt / STAGES) & 1);
        mbar_wait(v_full(prev), ((jt - 1) / STAGES) & 1);
        named_sync(my_turn, 256);
        wgmma_fence();
        issue_qk(sc, s);
        wgmma_commit();
        issue_pv(pa, prev);
        wgmma_commit();
        named_arrive(their_turn, 256);
        wgmma_wait<1>();  // S_j is done (groups complete in order); P_{j-1} V_{j-1} may still run
        fence_registers(sc);
        mbar_arrive(k_empty(s));
        if (nb == w_last) mbar_arrive(sm.q_empty());
        softmax(sc, nb * BC, alpha);
        wgmma_wait<0>();
        fence_registers(o_acc);
        mbar_arrive(v_empty(prev));
        pack_p(sc, pa);
#pragma unroll
        for (int nt = 0; nt < D / 8; ++nt) {
          o_acc[4 * nt + 0] *= alpha[0];
          o_acc[4 * nt + 1] *= alpha[0];
          o_acc[4 * nt + 2] *= alpha[1];
          o_acc[4 * nt + 3] *= alpha[1];
        }
      }
      const int it_last = it0 + w_last - nb_first, last = it_last % STAGES;
      mbar_wait(v_full(last), (it_last / STAGES) & 1);
      named_sync(my_turn, 256);
      wgmma_fence();
      issue_pv(pa, last);
      wgmma_commit();
      named_arrive(their_turn, 256);
      wgmma_wait<0>();
      fence_registers(o_acc);
      mbar_arrive(v_empty(last));
    } else {
      // No key block at all: the first S's turn, and Q released (after its fill, like the stages below).
      write_pending();
      mbar_arrive(sm.q_empty());
      named_sync(my_turn, 256);
      named_arrive(their_turn, 256);
    }
    // The key blocks past this warpgroup's last: one turn each (the others issue a product per block), and the
    // stages released, each after its fill so that the arrival counts toward the phase that frees this fill.
    for (int nb = w_last + 1, jt = it0 + (w_last + 1 - nb_first); nb <= nb_last; ++nb, ++jt) {
      const int s = jt % STAGES;
      named_sync(my_turn, 256);
      named_arrive(their_turn, 256);
      mbar_wait(k_full(s), (jt / STAGES) & 1);
      mbar_arrive(k_empty(s));
      mbar_wait(v_full(s), (jt / STAGES) & 1);
      mbar_arrive(v_empty(s));
    }
    it = it0 + nb_last - nb_first + 1;
  } else {
    write_pending();
  }
  if constexpr (F::DEFER_O) {
    fwd_pack_rows<DT, D>(p, tile, o_acc, m_run, l_run, o_packed);
    pending = tile;
    store_pending = !p.out_float32;
  } else {
    static_assert(F::STAGED_O, "an O that is not deferred leaves through the warps' stages");
    // Epilogue: O / l and lse. A row with no allowed key has l = 0: o = 0, lse = -inf.
    float* lse = reinterpret_cast<float*>(p.lse) + (int64_t(b) * p.h + head) * p.lq;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = l_run[r];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
      for (int nt = 0; nt < D / 8; ++nt) {
        o_acc[4 * nt + 2 * r] *= inv;
        o_acc[4 * nt + 2 * r + 1] *= inv;
      }
      const int row = i0 + warp_row + g + r * 8;
      if (t == 0 && row >= 0) lse[row] = l > 0.f ? (m_run[r] + __log2f(l)) * LN2 : -INFINITY;
    }
    // 16-bit O through the warp's stage, whole 128-byte lines, by TMA stores; except in a partial first tile (at
    // most one per (batch, head)), some of whose warps' rows start before row 0, as no TMA store's box may
    // (epilogue.cuh). The test is the tile's, not the warp's: on the warp's, d = 64 and 128 spilled 32 bytes.
    if (F::STAGED_O && !p.out_float32 && i0 >= 0) {
      const uint32_t stage = sm.sQ + F::O_STAGES_OFFSET + (ct / 32) * F::O_STAGE_BYTES;
#pragma unroll
      for (int band = 0; band < F::BANDS; ++band)
        if (band * 64 < p.d)
          store_band_by_tma<DT>(stage, o_acc, 8 * band, &args.o, band * 64, i0 + warp_row, head, b, lane);
      return;
    }
    // Else from registers (each quad writes 32 contiguous bytes of a row per n8 block in float32, 16 in 16-bit):
    // float32 o (ring attention's partial results), and 16-bit o of the tiles left out above.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = i0 + warp_row + g + r * 8;
      if (row < 0) continue;  // rows of the partial first tile before row 0
      const int64_t at = ((int64_t(b) * p.lq + row) * p.h + head) * p.d;
#pragma unroll
      for (int nt = 0; nt < D / 8; ++nt) {
        const int col = nt * 8 + 2 * t;
        if (col >= p.d) continue;  // d is a multiple of 8 on this path: a pair is either all in or all out
        const float x0 = o_acc[4 * nt + 2 * r], x1 = o_acc[4 * nt + 2 * r + 1];
        if (p.out_float32)
          *reinterpret_cast<float2*>(reinterpret_cast<float*>(p.o) + at + col) = make_float2(x0, x1);
        else
          *reinterpret_cast<uint32_t*>(reinterpret_cast<T*>(p.o) + at + col) = DT::pack(x0, x1);
      }
    }
  }
}

// A consumer warpgroup: every tile the producer hands it, until a number past the last tile. The last consumer
// gives the first its first turn, once.
template <class DT, int D>
__device__ __forceinline__ void fwd_consumer(const FwdArgs& args, const FwdSmem<D>& sm) {
  using F = Fwd90<D>;
  const FlashParams& p = args.p;
  if ((threadIdx.x - 128) / 128 == F::CONSUMERS - 1) named_arrive(1, 256);
  const FwdTiles<D> tiles(p);
  int it = 0, q_loads = 0;
  uint32_t o_packed[D / 4];
  FwdTile pending;
  bool store_pending = false;
  for (int k = 0;; ++k) {
    mbar_wait(sm.tile_full(k & 1), (k >> 1) & 1);
    const int t = int(flash::ld_shared_32(sm.tile_slot(k & 1)));
    mbar_arrive(sm.tile_empty(k & 1));
    if (t >= tiles.count) break;
    fwd_consumer_tile<DT, D>(args, sm, tiles.at(p, t), it, q_loads, o_packed, pending, store_pending);
  }
  if constexpr (F::DEFER_O) {
    if (store_pending) fwd_store_packed<DT, D>(p, pending, o_packed);
  }
  if constexpr (F::STAGED_O) {
    if ((threadIdx.x & 31) == 0) bulk_wait_group<0>();  // the stage's last stores are done before the block ends
  }
}

template <class DT, int D>
__device__ __forceinline__ void fwd_kernel(const FwdArgs& args) {
  using F = Fwd90<D>;
  FwdSmem<D> sm;
  sm.sQ = (smem_addr(flash90_smem) + 1023u) & ~1023u;
  sm.sK = sm.sQ + F::Q_BYTES;
  sm.sV = sm.sK + F::STAGES * F::KV_BYTES;
  sm.bar = sm.sQ + F::BARRIERS_OFFSET;

  if (threadIdx.x == 0) {
    mbar_init(sm.q_full(), 1);
    mbar_init(sm.q_empty(), F::CONSUMER_THREADS);
    for (int i = 0; i < 2; ++i) {
      mbar_init(sm.tile_full(i), 1);
      mbar_init(sm.tile_empty(i), F::CONSUMER_THREADS);
    }
    for (int s = 0; s < F::STAGES; ++s) {
      mbar_init(sm.k_full(s), 1);
      mbar_init(sm.v_full(s), 1);
      mbar_init(sm.k_empty(s), F::CONSUMER_THREADS);
      mbar_init(sm.v_empty(s), F::CONSUMER_THREADS);
    }
    fence_barrier_init();
  }
  __syncthreads();
  // Programmatic dependent launch (common/ptx.cuh): only the shared-memory set-up above overlaps the grid before.
  flash::wait_for_previous_grid();
  flash::allow_next_grid();

  // One branch per role (the form ptxas needs to give each its own setmaxnreg register budget).
  if (threadIdx.x < 128) {
    regs_decrease<F::PRODUCER_REGS>();
    if (threadIdx.x == 0) fwd_producer<D>(args, sm);
  } else {
    regs_increase<F::CONSUMER_REGS>();
    fwd_consumer<DT, D>(args, sm);
  }
}

}  // namespace flash90
