// FlashAttention-2 forward for sm_80+ (mma.sync m16n8k16, ldmatrix, cp.async).
//
// One block: query rows [i0, i0 + BR) of one (batch, head). Each warp owns MT m-tiles of 16 rows, so the
// online softmax of a row never leaves its quad of 4 threads. Per key block j (paper notation):
//   S = Q K_j^T (fp32),  m_new = max(m, rowmax(S)),  P = exp2(S * scale * log2e - m_new),
//   l = l * exp2(m - m_new) + rowsum(P),  O = O * exp2(m - m_new) + P V_j.
// At the end O / l is written (dtype, or float32 when out_float32) and lse = (m + log2 l) * ln2.
// Loads overlap compute: V_j streams in while S is computed, K_{j+1} while P V_j is.
#pragma once
#include "params.h"
#include "../common/tile.cuh"
#include "../common/mask.cuh"
#include "config.cuh"

namespace flash {

extern __shared__ __align__(128) uint8_t flash_smem[];

constexpr float LN2 = 0.6931471805599453f;

template <class DT, int D>
struct Fwd {
  static constexpr int WARPS = FwdConfig<D>::WARPS, MT = FwdConfig<D>::MT, BC = FwdConfig<D>::BC;
  static constexpr int BR = 16 * MT * WARPS, THREADS = 32 * WARPS;
  using QTile = SmemTile<BR, D>;
  using KVTile = SmemTile<BC, D>;
  static constexpr int SMEM_BYTES = QTile::BYTES + 2 * KVTile::BYTES;
};

template <class DT, int D>
__device__ __forceinline__ void fwd_kernel(const FlashParams& p) {
  using F = Fwd<DT, D>;
  using T = typename DT::T;
  using QTile = typename F::QTile;
  using KVTile = typename F::KVTile;
  constexpr int MT = F::MT, BC = F::BC, BR = F::BR, THREADS = F::THREADS;
  constexpr int NT_S = BC / 8, NT_O = D / 8;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;  // fragment row group and column pair
  // Highest query block first: under a causal mask it has the most keys, so the tail of the grid is short.
  const int qb = gridDim.x - 1 - blockIdx.x;
  const int head = blockIdx.y, b = blockIdx.z;
  const int kh = head / (p.h / p.hk);
  const int i0 = qb * BR;
  const int i_last = min(i0 + BR, p.lq) - 1;
  const int warp_row = warp * MT * 16;  // first row of this warp inside the block

  const Mask mask(p);
  int64_t j_lo, j_hi;
  mask.keys_for(i0, i_last, &j_lo, &j_hi);
  const int nb_first = int(j_lo / BC);
  const int nb_last = j_hi >= j_lo ? int(j_hi / BC) : nb_first - 1;

  const int64_t q_stride = int64_t(p.h) * p.d, kv_stride = int64_t(p.hk) * p.d;
  const T* q = reinterpret_cast<const T*>(p.q) + ((int64_t(b) * p.lq + i0) * p.h + head) * p.d;  // [BR rows][d]
  const T* k = reinterpret_cast<const T*>(p.k) + (int64_t(b) * p.lk * p.hk + kh) * p.d;          // [lk rows][d]
  const T* v = reinterpret_cast<const T*>(p.v) + (int64_t(b) * p.lk * p.hk + kh) * p.d;          // [lk rows][d]
  const bool vec = p.d % 8 == 0 && ((p.q | p.k | p.v) & 15) == 0;

  const uint32_t sQ = smem_addr(flash_smem);
  const uint32_t sK = sQ + QTile::BYTES;
  const uint32_t sV = sK + KVTile::BYTES;

  float o_acc[MT][NT_O][4];
  float m_run[MT][2], l_run[MT][2];  // per row half: running max (log2 units) and this thread's partial sum
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int nt = 0; nt < NT_O; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) o_acc[mt][nt][e] = 0.f;
    m_run[mt][0] = m_run[mt][1] = -INFINITY;
    l_run[mt][0] = l_run[mt][1] = 0.f;
  }

  if (nb_first <= nb_last) {
    load_tile<QTile, THREADS, DT>(sQ, q, q_stride, p.lq - i0, p.d, vec);
    load_tile<KVTile, THREADS, DT>(sK, k + int64_t(nb_first) * BC * kv_stride, kv_stride, p.lk - nb_first * BC, p.d,
                                   vec);
    cp_async_commit();
  }
  for (int nb = nb_first; nb <= nb_last; ++nb) {
    const int j0 = nb * BC;
    cp_async_wait<0>();
    // Barrier: K_j (and Q) are in shared memory for every warp, and every warp has finished P V_{j-1},
    // so V's buffer may be refilled.
    __syncthreads();
    load_tile<KVTile, THREADS, DT>(sV, v + int64_t(j0) * kv_stride, kv_stride, p.lk - j0, p.d, vec);
    cp_async_commit();

    // S = Q K_j^T
    float s[MT][NT_S][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[mt][nt][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) ldsm_a<QTile>(a[mt], sQ, warp_row + mt * 16, kk * 16);
#pragma unroll
      for (int np = 0; np < BC / 16; ++np) {
        uint32_t bk[4];
        ldsm_b<KVTile>(bk, sK, kk * 16, np * 16);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(s[mt][2 * np], a[mt], bk[0], bk[1], T());
          mma_16816(s[mt][2 * np + 1], a[mt], bk[2], bk[3], T());
        }
      }
    }

    // Scores in log2 units; masked pairs to -inf, only on tiles that straddle a mask edge or the end of k
    // (one branch per tile, then two integer compares per element against the row's allowed key range).
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[mt][nt][e] *= p.softmax_scale_log2;
    if (mask.tile_needs_mask(i0, i_last, j0, j0 + BC - 1)) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          int lo, hi;
          mask.row_range(i0 + warp_row + mt * 16 + g + r * 8, &lo, &hi);
#pragma unroll
          for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const int j = j0 + nt * 8 + 2 * t + e;
              if (j < lo || j > hi) s[mt][nt][2 * r + e] = -INFINITY;
            }
        }
    }

    // Online softmax, one row half (rows g and g + 8) at a time.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < NT_S; ++nt) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * r], s[mt][nt][2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m_run[mt][r], mx);
        // A row that has seen only masked keys keeps m = -inf; subtracting 0 keeps exp2 at 0, never NaN.
        const float m_use = m_new == -INFINITY ? 0.f : m_new;
        const float alpha = exp2_approx(m_run[mt][r] - m_use);
        m_run[mt][r] = m_new;
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < NT_S; ++nt)
#pragma unroll
          for (int e = 2 * r; e < 2 * r + 2; ++e) {
            const float pv = exp2_approx(s[mt][nt][e] - m_use);
            s[mt][nt][e] = pv;
            sum += pv;
          }
        l_run[mt][r] = l_run[mt][r] * alpha + sum;
#pragma unroll
        for (int nt = 0; nt < NT_O; ++nt) {
          o_acc[mt][nt][2 * r] *= alpha;
          o_acc[mt][nt][2 * r + 1] *= alpha;
        }
      }

    cp_async_wait<0>();
    // Barrier: V_j is in shared memory for every warp, and every warp has finished reading K_j,
    // so K's buffer may be refilled with K_{j+1} while P V_j runs.
    __syncthreads();
    if (nb < nb_last) {
      load_tile<KVTile, THREADS, DT>(sK, k + int64_t(j0 + BC) * kv_stride, kv_stride, p.lk - j0 - BC, p.d, vec);
      cp_async_commit();
    }

    // O += P V_j, P taken straight from the S accumulators (the C layout of 2 n-tiles is the A layout).
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        a[mt][0] = DT::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        a[mt][1] = DT::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        a[mt][2] = DT::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        a[mt][3] = DT::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int np = 0; np < D / 16; ++np) {
        uint32_t bv[4];
        ldsm_b_trans<KVTile>(bv, sV, kk * 16, np * 16);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(o_acc[mt][2 * np], a[mt], bv[0], bv[1], T());
          mma_16816(o_acc[mt][2 * np + 1], a[mt], bv[2], bv[3], T());
        }
      }
    }
  }

  // Epilogue: O / l and lse. A row with no allowed key has l = 0: o = 0, lse = -inf.
  float* lse = reinterpret_cast<float*>(p.lse) + (int64_t(b) * p.h + head) * p.lq;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = l_run[mt][r];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
      for (int nt = 0; nt < NT_O; ++nt) {
        o_acc[mt][nt][2 * r] *= inv;
        o_acc[mt][nt][2 * r + 1] *= inv;
      }
      const int row = i0 + warp_row + mt * 16 + g + r * 8;
      if (t == 0 && row < p.lq) lse[row] = l > 0.f ? (m_run[mt][r] + __log2f(l)) * LN2 : -INFINITY;
    }

  if (p.out_float32) {
    float* o = reinterpret_cast<float*>(p.o);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = i0 + warp_row + mt * 16 + g + (e >> 1) * 8;
        if (row >= p.lq) continue;
        float* orow = o + ((int64_t(b) * p.lq + row) * p.h + head) * p.d;
#pragma unroll
        for (int nt = 0; nt < NT_O; ++nt) {
          const int col = nt * 8 + 2 * t + (e & 1);
          if (col < p.d) orow[col] = o_acc[mt][nt][e];
        }
      }
    return;
  }

  // Stage this warp's rows through its own rows of the Q tile (only this warp ever read them), then write
  // whole 16-byte chunks.
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
      for (int nt = 0; nt < NT_O; ++nt)
        st_shared_32(sQ + QTile::offset(warp_row + mt * 16 + g + r * 8, nt) + t * 4,
                     DT::pack(o_acc[mt][nt][2 * r], o_acc[mt][nt][2 * r + 1]));
  __syncwarp();  // the warp's staged rows are complete before its lanes read each other's chunks
  const bool vec_o = p.d % 8 == 0 && (p.o & 15) == 0;
  T* o = reinterpret_cast<T*>(p.o);
  for (int idx = lane; idx < MT * 16 * (D / 8); idx += 32) {
    const int lr = idx / (D / 8), chunk = idx % (D / 8);
    const int row = i0 + warp_row + lr;
    if (row >= p.lq || chunk * 8 >= p.d) continue;
    const uint4 val = ld_shared_128(sQ + QTile::offset(warp_row + lr, chunk));
    T* dst = o + ((int64_t(b) * p.lq + row) * p.h + head) * p.d + chunk * 8;
    if (vec_o) {
      *reinterpret_cast<uint4*>(dst) = val;
    } else {
      const uint32_t w[4] = {val.x, val.y, val.z, val.w};
      uint16_t* dst16 = reinterpret_cast<uint16_t*>(dst);
#pragma unroll
      for (int e = 0; e < 8; ++e)
        if (chunk * 8 + e < p.d) dst16[e] = uint16_t(w[e >> 1] >> (16 * (e & 1)));
    }
  }
}

}  // namespace flash
