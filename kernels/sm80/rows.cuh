// The two small backward passes, one warp per (row, head):
//   bwd_pre: D_i = dot(dout_i, o_i) in float32 into softmax_d, and dq_accum row i = 0 unless dq_accum is 0 (the
//            deterministic backward, which never reads dq_accum, passes none and halves this pass's bytes).
//   bwd_dq:  dq_i = softmax_scale * dq_accum_i, rounded to dtype (or float32 when out_float32).
// Both only move memory, so what matters is how many bytes each SM has in flight. Where d is a multiple of 4
// and the pointers allow it, a lane moves four columns per access (8 bytes of 16-bit data, 16 of float32)
// and a warp issues the loads of all its rows before using any; otherwise one column per lane and access.
#pragma once
#include "params.h"
#include "../common/dtype.cuh"
#include "config.cuh"
#include "../common/bwd_order.cuh"
#include "../common/ready_rows.cuh"

namespace flash {

struct RowGeometry {
  static constexpr int ROWS_PER_WARP = RowConfig::ROWS / RowConfig::WARPS;
};

// The vector paths' shape for a head dim: a row takes LANES lanes of four columns each (16 lanes at d = 64, so a
// warp covers two rows per access instead of leaving half its lanes idle), CHUNKS accesses per row.
template <int HEAD_DIM>
struct VectorRows {
  static constexpr int LANES = HEAD_DIM <= 32 ? 8 : HEAD_DIM <= 64 ? 16 : 32;
  static constexpr int ROWS_AT_ONCE = 32 / LANES;
  static constexpr int COLUMNS = LANES * 4;
  static constexpr int CHUNKS = (HEAD_DIM + COLUMNS - 1) / COLUMNS;
  /** Rows of a warp's share that one lane touches. */
  static constexpr int ROWS_PER_LANE = RowGeometry::ROWS_PER_WARP / ROWS_AT_ONCE;
  static_assert(RowGeometry::ROWS_PER_WARP % ROWS_AT_ONCE == 0, "a warp's rows must split evenly between its lane groups");
};

// Where one lane works in the vector paths: its lane group's rows, its columns, and where a row starts in the
// [n, lq, h, d] tensors. By default the block's (blockIdx: rows, head, batch); bwd_pre_side names its chunk's.
template <int HEAD_DIM>
struct VectorLane {
  using V = VectorRows<HEAD_DIM>;
  int group, column_lane, head, b, first_row;
  __device__ __forceinline__ VectorLane()
      : VectorLane(blockIdx.y, blockIdx.z,
                   blockIdx.x * RowConfig::ROWS + (threadIdx.x >> 5) * RowGeometry::ROWS_PER_WARP) {}
  __device__ __forceinline__ VectorLane(int head_, int b_, int first_row_) : head(head_), b(b_), first_row(first_row_) {
    const int lane = threadIdx.x & 31;
    group = lane / V::LANES;
    column_lane = lane % V::LANES;
  }
  __device__ __forceinline__ int row(int j) const { return first_row + j * V::ROWS_AT_ONCE + group; }
  __device__ __forceinline__ int column(int ch) const { return ch * V::COLUMNS + column_lane * 4; }
  __device__ __forceinline__ int64_t base(const FlashParams& p, int row) const { return ((int64_t(b) * p.lq + row) * p.h + head) * p.d; }
};

// FlashParams carries device addresses as integers.
__device__ __forceinline__ bool aligned_to(uint64_t address, uint64_t bytes) { return (address & (bytes - 1)) == 0; }

// Four 16-bit values from 8 bytes, as floats.
template <class DT>
__device__ __forceinline__ void unpack4(uint2 bits, float (&x)[4]) {
  const typename DT::T* e = reinterpret_cast<const typename DT::T*>(&bits);
#pragma unroll
  for (int i = 0; i < 4; ++i) x[i] = DT::to_float(e[i]);
}

// bwd_pre's rows at.row(0..J-1): D into softmax_d and, where zero_accum, zeros into dq_accum; every row's loads are
// issued before any is used.
template <class DT, int HEAD_DIM, int J>
__device__ __forceinline__ void pre_rows(const FlashParams& p, const VectorLane<HEAD_DIM>& at, bool zero_accum) {
  using V = VectorRows<HEAD_DIM>;
  uint2 dout_bits[J][V::CHUNKS], o_bits[J][V::CHUNKS];
#pragma unroll
  for (int j = 0; j < J; ++j) {
    const int row = at.row(j);
    const int64_t base = at.base(p, row);
#pragma unroll
    for (int ch = 0; ch < V::CHUNKS; ++ch) {
      const int c = at.column(ch);
      dout_bits[j][ch] = o_bits[j][ch] = make_uint2(0, 0);
      if (row < p.lq && c < p.d) {
        dout_bits[j][ch] = *reinterpret_cast<const uint2*>(reinterpret_cast<const typename DT::T*>(p.dout) + base + c);
        o_bits[j][ch] = *reinterpret_cast<const uint2*>(reinterpret_cast<const typename DT::T*>(p.o) + base + c);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < J; ++j) {
    const int row = at.row(j);
    const int64_t base = at.base(p, row);
    float dot = 0.f;
#pragma unroll
    for (int ch = 0; ch < V::CHUNKS; ++ch) {
      float dout[4], o[4];
      unpack4<DT>(dout_bits[j][ch], dout);
      unpack4<DT>(o_bits[j][ch], o);
#pragma unroll
      for (int i = 0; i < 4; ++i) dot += dout[i] * o[i];
      const int c = at.column(ch);
      if (zero_accum && row < p.lq && c < p.d) {
        *reinterpret_cast<float4*>(reinterpret_cast<float*>(p.dq_accum) + base + c) = make_float4(0.f, 0.f, 0.f, 0.f);
      }
    }
    // Every lane takes part in the reduction (rows past lq add zeros), within its group of V::LANES lanes.
#pragma unroll
    for (int s = V::LANES / 2; s > 0; s >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, s);
    if (at.column_lane == 0 && row < p.lq) reinterpret_cast<float*>(p.softmax_d)[(int64_t(at.b) * p.h + at.head) * p.lq + row] = dot;
  }
}

template <class DT, int HEAD_DIM>
__device__ __forceinline__ void bwd_pre_vector(const FlashParams& p) {
  pre_rows<DT, HEAD_DIM, VectorRows<HEAD_DIM>::ROWS_PER_LANE>(p, VectorLane<HEAD_DIM>(), p.dq_accum != 0);
}

template <class DT>
__device__ __forceinline__ void bwd_pre_scalar(const FlashParams& p) {
  using T = typename DT::T;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = blockIdx.y, b = blockIdx.z;
  for (int rr = 0; rr < RowGeometry::ROWS_PER_WARP; ++rr) {
    const int row = blockIdx.x * RowConfig::ROWS + warp * RowGeometry::ROWS_PER_WARP + rr;
    if (row >= p.lq) return;
    const int64_t base = ((int64_t(b) * p.lq + row) * p.h + head) * p.d;
    const T* dout = reinterpret_cast<const T*>(p.dout) + base;
    const T* o = reinterpret_cast<const T*>(p.o) + base;
    float* acc_row = p.dq_accum != 0 ? reinterpret_cast<float*>(p.dq_accum) + base : nullptr;
    float dot = 0.f;
    for (int c = lane; c < p.d; c += 32) {
      dot += DT::to_float(dout[c]) * DT::to_float(o[c]);
      if (acc_row) acc_row[c] = 0.f;
    }
#pragma unroll
    for (int s = 16; s > 0; s >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, s);
    if (lane == 0) reinterpret_cast<float*>(p.softmax_d)[(int64_t(b) * p.h + head) * p.lq + row] = dot;
  }
}

template <class DT, int HEAD_DIM>
__device__ __forceinline__ void bwd_pre_kernel(const FlashParams& p) {
  if (p.dq_done != 0) {  // the Hopper backward's item counters (params.h), before any thread may return
    const int64_t threads = int64_t(gridDim.x) * gridDim.y * gridDim.z * blockDim.x;
    const int64_t first = ((int64_t(blockIdx.z) * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x) * blockDim.x + threadIdx.x;
    for (int64_t i = first; i < int64_t(p.n) * p.hk; i += threads) reinterpret_cast<uint32_t*>(p.dq_done)[i] = 0u;
  }
  const bool vector = p.d % 4 == 0 && aligned_to(p.dout, 8) && aligned_to(p.o, 8) && aligned_to(p.dq_accum, 16);
  if (vector) bwd_pre_vector<DT, HEAD_DIM>(p);
  else bwd_pre_scalar<DT>(p);
}

// bwd_pre_side: bwd_pre's work beside the Hopper backward instead of before it (bench/NOTES.md P2, P2e). A few
// 1024-thread blocks (SideRows::MULTIPROCESSORS_PER_BLOCK: bwd_pre's 132 full blocks left the main kernel's first
// wave waiting ~45 us at d = 128) walk chunks of SideRows::rows(d) query rows of one (batch, head) in the order the main
// kernel's steps take them ((batch, head)-major, rows inside), one chunk per block at a time, and release the chunk's
// ready flag (FlashParams.ready_rows) once its D and zeroed dq_accum rows are stored; the main kernel, launched to
// overlap this grid, waits per step on the flags its rows cover. Each block lets the main kernel start as soon as it
// has itself waited for the grid before (flash_sm80.cu), so the main kernel's reads of q, k, v and dout are ordered
// after that grid too. Vector path only (a lane group per row: VectorRows; d % 4 == 0, dout and o 8-byte aligned, dq_accum
// 16-byte aligned); the host picks it only then (src/backend/cuda/backward.ts).
struct SideRows {
  static constexpr int THREADS = 1024, WARPS = THREADS / 32;
  // Rows of a lane group in flight (a warp at d > 64, half a warp at d = 64: VectorRows): their loads are all issued
  // before any is used. 8 at d <= 128 (a lane loads 8 bytes of o and of dout per row), so that a block keeps as many
  // bytes in flight (128 KB) as 4 rows of d = 256 do: beside the main kernel the grid is bound by its loads' latency
  // (bench/NOTES.md P2g).
  __host__ __device__ static constexpr int loads_per_lane(int head_dim) { return head_dim <= 128 ? 8 : 4; }
  __host__ __device__ static constexpr int rows_per_warp(int head_dim) {
    return loads_per_lane(head_dim) * (head_dim <= 64 ? 2 : 1);
  }
  __host__ __device__ static constexpr int rows(int head_dim) { return WARPS * rows_per_warp(head_dim); }
  static constexpr int MULTIPROCESSORS_PER_BLOCK = 3;
  // Paced (FlashParams.pace_grid: bwd_pre_side then runs for as long as the main kernel does), on this many blocks,
  // the main kernel on the other multiprocessors. On an H100 at causal l = 512 (bench/NOTES.md PACE2), against
  // unpaced: 12 blocks -28% / -11% (d = 128 / 256: too few to zero a head in time), 16 -10% / +4%, 20 +2% / +7%,
  // 24 +7% / +7%, 28 +8% / +5%.
  static constexpr int PACED_BLOCKS = 24;
  // The head dims that have it: those with a Hopper backward that waits on its flags (kernels/sm90/bwd.cuh,
  // bwd_wide.cuh).
  static constexpr bool serves(int head_dim) { return head_dim == 64 || head_dim == 128 || head_dim == 256; }
};

// Pacing (FlashParams.pace_grid): the chunks of a (batch, kv head) group wait until the main kernel has claimed items
// up to PACE_WAVES of its grid before the group's first item. Zeroed any earlier, a head's dq_accum rows leave L2 before
// the main kernel's reductions reach them, and the zeros are written to memory and read back (bench/NOTES.md FOLD2,
// PACE). The main kernel hands out its first `grid` items without the counter, so `claimed` = counter + grid.
// If the counter stands still for PACE_STALL_NS the main kernel is taken not to be running beside this grid (no
// multiprocessor left for it, say): pacing stops for the rest of this block, which then zeroes as an unpaced one does,
// and the main kernel, waiting only on the ready flags, finishes all the same.
constexpr int PACE_WAVES = 1;
constexpr uint64_t PACE_STALL_NS = 2000000;

__device__ __forceinline__ uint64_t global_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %globaltimer;\n" : "=l"(t));
  return t;
}

// Thread 0, before the chunks of a group whose first item is claimed `first`-th by the main kernel on `grid` blocks;
// false where pacing has stopped. Not inlined, which did not stop the spill it was meant to: at d = 128 this kernel
// spills 40 bytes either way (scripts/build-kernels.mjs ACCEPTED_SPILLS, bench/NOTES.md SPILL1).
__device__ __noinline__ bool pace_rows(const uint32_t* counter, int first, int grid) {
  uint32_t seen = 0xffffffffu;
  uint64_t since = 0;
  for (;;) {
    uint32_t c;
    asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];\n" : "=r"(c) : "l"(counter) : "memory");
    if (int64_t(c) + int64_t(1 + PACE_WAVES) * grid > first) return true;
    const uint64_t now = global_ns();
    if (c != seen) {
      seen = c;
      since = now;
    } else if (now - since > PACE_STALL_NS) {
      return false;
    }
    __nanosleep(500);
  }
}

template <class DT, int HEAD_DIM>
__device__ __forceinline__ void bwd_pre_side_kernel(const FlashParams& p) {
  using V = VectorRows<HEAD_DIM>;
  constexpr int J = SideRows::loads_per_lane(HEAD_DIM), ROWS = SideRows::rows(HEAD_DIM);
  static_assert(J * V::ROWS_AT_ONCE == SideRows::rows_per_warp(HEAD_DIM), "a warp's rows are its lane groups' loads");
  const int warp = threadIdx.x >> 5;
  const int chunks = (p.lq + ROWS - 1) / ROWS;
  uint32_t* ready = reinterpret_cast<uint32_t*>(p.dq_done) + int64_t(p.n) * p.hk;
  const int64_t all = int64_t(p.n) * p.h * chunks;
  // Thread 0's pacing state: the last group paced for (a block's chunks come in (batch, head)-major order), or
  // PACE_OFF once pacing has stopped.
  constexpr int PACE_OFF = 0x7fffffff;
  int paced = p.pace_grid != 0 ? -1 : PACE_OFF;
  for (int64_t u = blockIdx.x; u < all; u += gridDim.x) {
    const int64_t bh = u / chunks;
    const int b = int(bh / p.h), head = int(bh % p.h);
    const int row0 = int(u % chunks) * ROWS + warp * SideRows::rows_per_warp(HEAD_DIM);  // VectorLane::row(j)
    const int group = b * p.hk + head / (p.h / p.hk);
    if (p.pace_grid != 0) {
      if (threadIdx.x == 0 && group > paced) {
        const int key_blocks = (p.lk + int(p.pace_key_rows) - 1) / int(p.pace_key_rows);
        const int first = BwdOrder(p, key_blocks, int(p.pace_grid)).first_claim(group);
        paced = pace_rows(reinterpret_cast<const uint32_t*>(p.tile_counter), first, int(p.pace_grid)) ? group : PACE_OFF;
      }
      __syncthreads();
    }
    pre_rows<DT, HEAD_DIM, J>(p, VectorLane<HEAD_DIM>(head, b, row0), true);
    // The main kernel adds into these zeros by TMA reductions (the async proxy): each thread fences its generic stores
    // for that proxy before the block meets, and one thread then releases the chunk at GPU scope.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("fence.proxy.async.global;\n" ::: "memory");
#endif
    __syncthreads();
    if (threadIdx.x == 0) {
      __threadfence();
      asm volatile("st.release.gpu.global.u32 [%0], 1;\n" ::"l"(ready + u) : "memory");
    }
  }
}

// bwd_dq after a Hopper main kernel that counts its items (FlashParams.dq_done): this block's (batch, head) group
// is waited for, not the whole grid. Beside bwd_pre_side (ready_rows) the ready flags of the block's rows too: a row
// that sees no key is in no step of the main kernel, so only its flag orders its zeroed dq_accum before this read.
// Then the next grid may start.
__device__ __forceinline__ void wait_for_group_items(const FlashParams& p) {
  if (threadIdx.x == 0) {
    const uint32_t* counters = reinterpret_cast<const uint32_t*>(p.dq_done);
    const int64_t group = int64_t(blockIdx.z) * p.hk + int(blockIdx.y) / (p.h / p.hk);
    for (;;) {
      uint32_t count;
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(count) : "l"(counters + group) : "memory");
      if (count == p.dq_done_whole) break;
      __nanosleep(1000);
    }
    if (p.ready_rows != 0) {
      const int first = int(blockIdx.x) * RowConfig::ROWS;
      wait_for_ready_rows(p, int(blockIdx.z) * p.h + int(blockIdx.y), first, min(first + RowConfig::ROWS, p.lq));
    }
  }
  __syncthreads();
  allow_next_grid();
}

template <class DT, int HEAD_DIM>
__device__ __forceinline__ void bwd_dq_vector(const FlashParams& p) {
  using V = VectorRows<HEAD_DIM>;
  const VectorLane<HEAD_DIM> at;
  float4 acc[V::ROWS_PER_LANE][V::CHUNKS];
#pragma unroll
  for (int j = 0; j < V::ROWS_PER_LANE; ++j) {
    const int row = at.row(j);
    const int64_t base = at.base(p, row);
#pragma unroll
    for (int ch = 0; ch < V::CHUNKS; ++ch) {
      const int c = at.column(ch);
      acc[j][ch] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (row < p.lq && c < p.d) acc[j][ch] = __ldcg(reinterpret_cast<const float4*>(reinterpret_cast<const float*>(p.dq_accum) + base + c));
    }
  }
  const float s = p.softmax_scale;
#pragma unroll
  for (int j = 0; j < V::ROWS_PER_LANE; ++j) {
    const int row = at.row(j);
    if (row >= p.lq) continue;
    const int64_t base = at.base(p, row);
#pragma unroll
    for (int ch = 0; ch < V::CHUNKS; ++ch) {
      const int c = at.column(ch);
      if (c >= p.d) continue;
      const float4 a = acc[j][ch];
      if (p.out_float32) {
        *reinterpret_cast<float4*>(reinterpret_cast<float*>(p.dq) + base + c) = make_float4(a.x * s, a.y * s, a.z * s, a.w * s);
      } else {
        *reinterpret_cast<uint2*>(reinterpret_cast<typename DT::T*>(p.dq) + base + c) = make_uint2(DT::pack(a.x * s, a.y * s), DT::pack(a.z * s, a.w * s));
      }
    }
  }
}

template <class DT>
__device__ __forceinline__ void bwd_dq_scalar(const FlashParams& p) {
  using T = typename DT::T;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = blockIdx.y, b = blockIdx.z;
  for (int rr = 0; rr < RowGeometry::ROWS_PER_WARP; ++rr) {
    const int row = blockIdx.x * RowConfig::ROWS + warp * RowGeometry::ROWS_PER_WARP + rr;
    if (row >= p.lq) return;
    const int64_t base = ((int64_t(b) * p.lq + row) * p.h + head) * p.d;
    const float* acc_row = reinterpret_cast<const float*>(p.dq_accum) + base;
    for (int c = lane; c < p.d; c += 32) {
      const float x = __ldcg(acc_row + c) * p.softmax_scale;
      if (p.out_float32) reinterpret_cast<float*>(p.dq)[base + c] = x;
      else reinterpret_cast<T*>(p.dq)[base + c] = DT::from_float(x);
    }
  }
}

template <class DT, int HEAD_DIM>
__device__ __forceinline__ void bwd_dq_kernel(const FlashParams& p) {
  const bool vector = p.d % 4 == 0 && aligned_to(p.dq_accum, 16) && aligned_to(p.dq, p.out_float32 ? 16 : 8);
  if (vector) bwd_dq_vector<DT, HEAD_DIM>(p);
  else bwd_dq_scalar<DT>(p);
}

}  // namespace flash
