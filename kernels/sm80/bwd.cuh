// FlashAttention-2 backward for sm_80+: the main kernel over key blocks, deterministic in dk and dv.
//
// One block: keys [j0, j0 + BC) of one (batch, kv head), with K_j and V_j resident in shared memory. It loops
// over every query head of the group and over the query blocks Q_i (BR rows) that can see these keys, and
// recomputes P from lse (paper notation, all per tile):
//   phase A  S^T = K_j Q_i^T,  P^T = exp2(S^T * scale * log2e - lse * log2e),  dP^T = V_j dO_i^T,
//            dS^T = P^T o (dP^T - D_i)            (warps split keys x queries; P^T, dS^T go to shared memory)
//   phase B  dV_j += P^T dO_i,  dK_j += dS^T Q_i   (warps split keys x head dim; accumulators in registers)
//   phase C  dQ_i += dS K_j                       (warps split queries x head dim; float32 atomics into dq_accum)
// dK_j is scaled by softmax_scale and dK_j, dV_j are written once at the end; dq is scaled in bwd_dq.
#pragma once
#include "params.h"
#include "../common/tile.cuh"
#include "../common/mask.cuh"
#include "../common/softmax_consts.cuh"
#include "config.cuh"

namespace flash {

extern __shared__ __align__(128) uint8_t flash_smem[];

// Vector float atomics (red.global.add.v2.f32) exist from sm_90; the sm_80 machine code keeps scalar ones.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
constexpr bool PAIRED_RED = true;
#else
constexpr bool PAIRED_RED = false;
#endif

template <bool B> struct BoolTag { static constexpr bool value = B; };

// How many 16-column units phase C accumulates at once (each of its CM m-tiles): the largest divisor of n whose
// accumulators stay within 32 registers, or 16 when the dK/dV accumulators already hold 128 or more
// (kv_regs), so phase C's temporaries do not spill.
constexpr int phase_c_group(int n, int kv_regs, int cm) {
  const int units = kv_regs < 128 ? 4 : 2, budget = units / cm > 0 ? units / cm : 1;
  for (int u = budget; u > 1; --u)
    if (n % u == 0) return u;
  return 1;
}

template <class DT, int D, class Cfg>
struct Bwd {
  static constexpr int WARPS = Cfg::WARPS, BC = Cfg::BC, BR = Cfg::BR, STAGES = Cfg::STAGES;
  static constexpr int AM = Cfg::AM, BM = Cfg::BM, CM = Cfg::CM;
  static constexpr int THREADS = 32 * WARPS;
  static constexpr int WAM = BC / (16 * AM), WAN = WARPS / WAM, QCOLS = BR / WAN;  // phase A: keys x queries
  static constexpr int WBM = BC / (16 * BM), WBN = WARPS / WBM, DCOLS = D / WBN;   // phase B: keys x head dim
  static constexpr int WCM = BR / (16 * CM), WCN = WARPS / WCM, CCOLS = D / WCN;   // phase C: queries x head dim
  static constexpr int CU = phase_c_group(CCOLS / 16, BM * DCOLS, CM);
  using KVTile = SmemTile<BC, D>;
  using QTile = SmemTile<BR, D>;
  using PTile = SmemTile<BC, BR>;
  // Stage s holds Q at OFF_Q + s * STAGE_BYTES, dO right after it; lse and D of stage s at OFF_LSE/OFF_DVEC + s * BR.
  static constexpr int STAGE_BYTES = 2 * QTile::BYTES;
  static constexpr int OFF_K = 0, OFF_V = KVTile::BYTES, OFF_Q = 2 * KVTile::BYTES;
  static constexpr int OFF_P = OFF_Q + STAGES * STAGE_BYTES;
  static constexpr int OFF_DS = OFF_P + PTile::BYTES, OFF_LSE = OFF_DS + PTile::BYTES;
  static constexpr int OFF_DVEC = OFF_LSE + STAGES * BR * 4;
  static constexpr int SMEM_BYTES = OFF_DVEC + STAGES * BR * 4;
  static_assert(BC % (16 * AM) == 0 && WARPS % WAM == 0 && BR % WAN == 0 && QCOLS % 16 == 0, "phase A split");
  static_assert(BC % (16 * BM) == 0 && WARPS % WBM == 0 && D % WBN == 0 && DCOLS % 16 == 0, "phase B split");
  static_assert(BR % (16 * CM) == 0 && WARPS % WCM == 0 && D % WCN == 0 && CCOLS % 16 == 0, "phase C split");
  static_assert(STAGES == 1 || STAGES == 2, "one or two Q/dO stages");
};

template <class DT, int D, class Cfg>
__device__ __forceinline__ void bwd_kernel(const FlashParams& p) {
  using B_ = Bwd<DT, D, Cfg>;
  using T = typename DT::T;
  using KVTile = typename B_::KVTile;
  using QTile = typename B_::QTile;
  using PTile = typename B_::PTile;
  constexpr int BC = B_::BC, BR = B_::BR, THREADS = B_::THREADS, STAGES = B_::STAGES;
  constexpr int AM = B_::AM, BM = B_::BM, CM = B_::CM;
  constexpr int QCOLS = B_::QCOLS, DCOLS = B_::DCOLS, CCOLS = B_::CCOLS, CU = B_::CU;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;
  const int wam = warp % B_::WAM, wan = warp / B_::WAM;  // phase A: key m-tile group, query column group
  const int wbm = warp % B_::WBM, wbn = warp / B_::WBM;  // phase B: key m-tile group, d column group
  const int wcm = warp % B_::WCM, wcn = warp / B_::WCM;  // phase C: query m-tile group, d column group
  const int jb = blockIdx.x, kh = blockIdx.y, b = blockIdx.z;
  const int group = p.h / p.hk;
  const int j0 = jb * BC;
  const int j_last = min(j0 + BC, p.lk) - 1;

  const int64_t q_stride = int64_t(p.h) * p.d, kv_stride = int64_t(p.hk) * p.d;
  const T* k = reinterpret_cast<const T*>(p.k) + ((int64_t(b) * p.lk + j0) * p.hk + kh) * p.d;  // [BC rows][d]
  const T* v = reinterpret_cast<const T*>(p.v) + ((int64_t(b) * p.lk + j0) * p.hk + kh) * p.d;  // [BC rows][d]
  const bool vec = p.d % 8 == 0 && ((p.q | p.k | p.v | p.dout) & 15) == 0;

  const uint32_t base = smem_addr(flash_smem);
  const uint32_t sK = base + B_::OFF_K, sV = base + B_::OFF_V;
  const uint32_t sP = base + B_::OFF_P, sdS = base + B_::OFF_DS;
  float* s_lse_all = reinterpret_cast<float*>(flash_smem + B_::OFF_LSE);    // [STAGES][BR] lse * log2e (+inf: no key)
  float* s_dvec_all = reinterpret_cast<float*>(flash_smem + B_::OFF_DVEC);  // [STAGES][BR] D_i

  load_tile<KVTile, THREADS, DT>(sK, k, kv_stride, p.lk - j0, p.d, vec);
  load_tile<KVTile, THREADS, DT>(sV, v, kv_stride, p.lk - j0, p.d, vec);
  cp_async_commit();

  float dv[BM][DCOLS / 8][4], dk[BM][DCOLS / 8][4];
#pragma unroll
  for (int bm = 0; bm < BM; ++bm)
#pragma unroll
    for (int nt = 0; nt < DCOLS / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) dv[bm][nt][e] = dk[bm][nt][e] = 0.f;

  const Mask mask(p);
  int64_t i_lo, i_hi;
  mask.queries_for(j0, j_last, &i_lo, &i_hi);
  const int qb_first = i_lo <= i_hi ? int(i_lo / BR) : 0;
  const int qb_last = i_lo <= i_hi ? int(i_hi / BR) : -1;

  // Steps walk (query head of the group, query block) pairs; step st uses stage st % STAGES.
  const int blocks_per_head = qb_last - qb_first + 1;
  const int steps = blocks_per_head * group;
  auto issue_step = [&](int st) {
    const int hq = kh * group + st / blocks_per_head;
    const int i0 = (qb_first + st % blocks_per_head) * BR;
    const int stage = STAGES == 2 ? (st & 1) : 0;
    const uint32_t sQ = base + B_::OFF_Q + stage * B_::STAGE_BYTES;
    const int64_t row0 = (int64_t(b) * p.lq + i0) * p.h + hq;  // (batch, row i0, head) in [n, lq, h]
    load_tile<QTile, THREADS, DT>(sQ, reinterpret_cast<const T*>(p.q) + row0 * p.d, q_stride, p.lq - i0, p.d, vec);
    load_tile<QTile, THREADS, DT>(sQ + QTile::BYTES, reinterpret_cast<const T*>(p.dout) + row0 * p.d, q_stride,
                                  p.lq - i0, p.d, vec);
    cp_async_commit();
    if (tid < BR) {
      const int row = i0 + tid;
      const int64_t at = (int64_t(b) * p.h + hq) * p.lq + row;
      const float l = row < p.lq ? reinterpret_cast<const float*>(p.lse)[at] : -INFINITY;
      // A row with no allowed key (lse = -inf) must get P = 0: exp2(x - inf) = 0.
      s_lse_all[stage * BR + tid] = l == -INFINITY ? INFINITY : l * LOG2E;
      s_dvec_all[stage * BR + tid] = row < p.lq ? reinterpret_cast<const float*>(p.softmax_d)[at] : 0.f;
    }
  };
  if (STAGES == 2 && steps > 0) issue_step(0);

  for (int st = 0; st < steps; ++st) {
    const int hq = kh * group + st / blocks_per_head;
    const int i0 = (qb_first + st % blocks_per_head) * BR;
    const int stage = STAGES == 2 ? (st & 1) : 0;
    float* dq_accum = reinterpret_cast<float*>(p.dq_accum) + (int64_t(b) * p.lq * p.h + hq) * p.d;
    if (STAGES == 1) {
      // Barrier: every warp has finished phases B and C of the previous step, so the single Q/dO stage,
      // P^T and dS^T may be overwritten.
      __syncthreads();
      issue_step(st);
    }
    cp_async_wait<0>();
    // Barrier: this step's Q_i, dO_i, lse, D (and on the first step K_j, V_j) are in shared memory for every
    // warp; with two stages it also means every warp has finished the previous step, whose stage the next
    // prefetch overwrites, and whose P^T, dS^T phase A below overwrites.
    __syncthreads();
    if (STAGES == 2 && st + 1 < steps) issue_step(st + 1);
    const uint32_t sQ = base + B_::OFF_Q + stage * B_::STAGE_BYTES;
    const uint32_t sdO = sQ + QTile::BYTES;
    const float* s_lse = s_lse_all + stage * BR;
    const float* s_dvec = s_dvec_all + stage * BR;
    {
      // Phase A: this warp's AM x 16 keys x QCOLS queries of S^T and dP^T.
      float s[AM][QCOLS / 8][4], dp[AM][QCOLS / 8][4];
#pragma unroll
      for (int am = 0; am < AM; ++am)
#pragma unroll
        for (int nt = 0; nt < QCOLS / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) s[am][nt][e] = dp[am][nt][e] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t ak[AM][4], av[AM][4];
#pragma unroll
        for (int am = 0; am < AM; ++am) {
          ldsm_a<KVTile>(ak[am], sK, (wam * AM + am) * 16, kk * 16);
          ldsm_a<KVTile>(av[am], sV, (wam * AM + am) * 16, kk * 16);
        }
#pragma unroll
        for (int np = 0; np < QCOLS / 16; ++np) {
          uint32_t bq[4], bo[4];
          ldsm_b<QTile>(bq, sQ, kk * 16, wan * QCOLS + np * 16);
          ldsm_b<QTile>(bo, sdO, kk * 16, wan * QCOLS + np * 16);
#pragma unroll
          for (int am = 0; am < AM; ++am) {
            mma_16816(s[am][2 * np], ak[am], bq[0], bq[1], T());
            mma_16816(s[am][2 * np + 1], ak[am], bq[2], bq[3], T());
            mma_16816(dp[am][2 * np], av[am], bo[0], bo[1], T());
            mma_16816(dp[am][2 * np + 1], av[am], bo[2], bo[3], T());
          }
        }
      }
      // P^T = exp2(S^T * scale * log2e - lse * log2e), masked pairs to 0, and dS^T = P^T o (dP^T - D), both to
      // shared memory in the input dtype, one 8-query n-tile at a time: each n-tile's S^T and dP^T registers are
      // free once its pair is stored, and only its own lse and D values are live (computing every P first, then
      // every dS, kept all of S^T, dP^T, lse and D live at once on top of the dK/dV accumulators).
      // Masking only on tiles that straddle a mask edge or the end of q or k (one branch per tile, then compares
      // against each key's allowed query range); the two bodies are separate instantiations.
      auto finish = [&](auto masked) {
#pragma unroll
        for (int am = 0; am < AM; ++am) {
          int lo[2] = {0, 0}, hi[2] = {0, 0};
          if constexpr (decltype(masked)::value)
#pragma unroll
            for (int r = 0; r < 2; ++r) mask.col_range(j0 + (wam * AM + am) * 16 + g + r * 8, &lo[r], &hi[r]);
#pragma unroll
          for (int nt = 0; nt < QCOLS / 8; ++nt) {
            float pv[4], ds[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int col = wan * QCOLS + nt * 8 + 2 * t + (e & 1);
              pv[e] = exp2_approx(s[am][nt][e] * p.softmax_scale_log2 - s_lse[col]);
              if constexpr (decltype(masked)::value) {
                const int i = i0 + col;
                if (i < lo[e >> 1] || i > hi[e >> 1]) pv[e] = 0.f;
              }
              // dS = P (dP - D). Where P rounds to 1 the row's other probabilities sum to under P_ONE_BAND, so
              // |dS| < 2 * P_ONE_BAND * max|dP|; dP - D would only return the rounding residue of two fp32 sums of
              // one dot product taken in different orders, so the exact limit 0 is used instead.
              ds[e] = (pv[e] >= 1.f - P_ONE_BAND ? 0.f : pv[e]) * (dp[am][nt][e] - s_dvec[col]);
            }
#pragma unroll
            for (int r = 0; r < 2; ++r) {
              const uint32_t off = PTile::offset((wam * AM + am) * 16 + g + r * 8, (wan * QCOLS) / 8 + nt) + t * 4;
              st_shared_32(sP + off, DT::pack(pv[2 * r], pv[2 * r + 1]));
              st_shared_32(sdS + off, DT::pack(ds[2 * r], ds[2 * r + 1]));
            }
          }
        }
      };
      if (mask.tile_needs_mask(i0, i0 + BR - 1, j0, j0 + BC - 1))
        finish(BoolTag<true>());
      else
        finish(BoolTag<false>());
    }
    // Barrier: P^T and dS^T of the whole tile are in shared memory before any warp reads other warps' parts.
    __syncthreads();
    {
      // Phase B: dV += P^T dO, dK += dS^T Q for this warp's BM x 16 keys x DCOLS head-dim columns.
#pragma unroll
      for (int kk = 0; kk < BR / 16; ++kk) {
        uint32_t ap[BM][4], ads[BM][4];
#pragma unroll
        for (int bm = 0; bm < BM; ++bm) {
          ldsm_a<PTile>(ap[bm], sP, (wbm * BM + bm) * 16, kk * 16);
          ldsm_a<PTile>(ads[bm], sdS, (wbm * BM + bm) * 16, kk * 16);
        }
#pragma unroll
        for (int np = 0; np < DCOLS / 16; ++np) {
          uint32_t bo[4], bq[4];
          ldsm_b_trans<QTile>(bo, sdO, kk * 16, wbn * DCOLS + np * 16);
          ldsm_b_trans<QTile>(bq, sQ, kk * 16, wbn * DCOLS + np * 16);
#pragma unroll
          for (int bm = 0; bm < BM; ++bm) {
            mma_16816(dv[bm][2 * np], ap[bm], bo[0], bo[1], T());
            mma_16816(dv[bm][2 * np + 1], ap[bm], bo[2], bo[3], T());
            mma_16816(dk[bm][2 * np], ads[bm], bq[0], bq[1], T());
            mma_16816(dk[bm][2 * np + 1], ads[bm], bq[2], bq[3], T());
          }
        }
      }

      // Phase C: dQ_i += dS K_j for this warp's CM x 16 queries x CCOLS columns, CU 16-column units at a time.
#pragma unroll
      for (int u0 = 0; u0 < CCOLS / 16; u0 += CU) {
        float acc[CM][2 * CU][4];
#pragma unroll
        for (int cm = 0; cm < CM; ++cm)
#pragma unroll
          for (int nt = 0; nt < 2 * CU; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[cm][nt][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < BC / 16; ++kk) {
          uint32_t a[CM][4];
#pragma unroll
          for (int cm = 0; cm < CM; ++cm) ldsm_a_trans<PTile>(a[cm], sdS, (wcm * CM + cm) * 16, kk * 16);
#pragma unroll
          for (int u = 0; u < CU; ++u) {
            uint32_t bk[4];
            ldsm_b_trans<KVTile>(bk, sK, kk * 16, wcn * CCOLS + (u0 + u) * 16);
#pragma unroll
            for (int cm = 0; cm < CM; ++cm) {
              mma_16816(acc[cm][2 * u], a[cm], bk[0], bk[1], T());
              mma_16816(acc[cm][2 * u + 1], a[cm], bk[2], bk[3], T());
            }
          }
        }
#pragma unroll
        for (int cm = 0; cm < CM; ++cm)
#pragma unroll
          for (int nt = 0; nt < 2 * CU; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int row = i0 + (wcm * CM + cm) * 16 + g + (e >> 1) * 8;
              const int col = wcn * CCOLS + u0 * 16 + nt * 8 + 2 * t + (e & 1);
              if (row >= p.lq || col >= p.d) continue;
              float* at = dq_accum + int64_t(row) * q_stride + col;
              // sm_90: adjacent column pairs in one vector RED (d even: every row 8-byte aligned, and col + 1 < d).
              if (PAIRED_RED && p.d % 2 == 0) {
                if ((e & 1) == 0) red_add_f32x2(at, acc[cm][nt][e], acc[cm][nt][e + 1]);
              } else {
                red_add_f32(at, acc[cm][nt][e]);
              }
            }
      }
    }
  }
  cp_async_wait<0>();  // K_j, V_j copies have landed even when no query block sees these keys

  // Epilogue: dK_j (scaled) and dV_j, each element written once.
#pragma unroll
  for (int bm = 0; bm < BM; ++bm)
#pragma unroll
    for (int nt = 0; nt < DCOLS / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = j0 + (wbm * BM + bm) * 16 + g + (e >> 1) * 8;
        const int col = wbn * DCOLS + nt * 8 + 2 * t + (e & 1);
        if (row > j_last || col >= p.d) continue;
        const int64_t idx = ((int64_t(b) * p.lk + row) * p.hk + kh) * p.d + col;
        const float dk_val = dk[bm][nt][e] * p.softmax_scale;
        if (p.out_float32) {
          reinterpret_cast<float*>(p.dk)[idx] = dk_val;
          reinterpret_cast<float*>(p.dv)[idx] = dv[bm][nt][e];
        } else {
          reinterpret_cast<T*>(p.dk)[idx] = DT::from_float(dk_val);
          reinterpret_cast<T*>(p.dv)[idx] = DT::from_float(dv[bm][nt][e]);
        }
      }
}

}  // namespace flash
