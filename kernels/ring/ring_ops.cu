// Element-wise helpers of ring attention on CUDA (src/ring/cuda-ops.ts): strided row copies (slice and
// concat along an axis), the log-space merge of partial attention results, float32 accumulation and the
// one final rounding to float16 / bfloat16. Each kernel takes one struct by value whose fields are all
// 64-bit, so the TypeScript side packs it as a plain array of little-endian words (cuda-kernels.ts).
// Launch: 1-D blocks of RING_THREADS threads; every kernel loops over its work with a grid stride, so any
// grid size is correct.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#define RING_THREADS 256

// --- strided copies -------------------------------------------------------------------------------
// `height` rows of `width` bytes: row r goes from src + r * src_pitch to dst + r * dst_pitch. The host
// picks the widest unit (16, 4 or 2 bytes) that divides both addresses, both pitches and the width.
struct CopyRowsArgs {
  uint64_t dst;
  uint64_t src;
  int64_t dst_pitch;
  int64_t src_pitch;
  int64_t width;
  int64_t height;
};
static_assert(sizeof(CopyRowsArgs) == 48, "CopyRowsArgs must match cuda-kernels.ts");

template <typename Unit>
__device__ void copy_rows(const CopyRowsArgs& a) {
  const int64_t units_per_row = a.width / (int64_t)sizeof(Unit);
  const int64_t total = units_per_row * a.height;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t row = i / units_per_row;
    const int64_t col = i - row * units_per_row;
    const Unit* from = reinterpret_cast<const Unit*>(a.src + row * a.src_pitch) + col;
    Unit* to = reinterpret_cast<Unit*>(a.dst + row * a.dst_pitch) + col;
    *to = *from;
  }
}

extern "C" __global__ void __launch_bounds__(RING_THREADS) ring_copy_rows_16(CopyRowsArgs a) { copy_rows<uint4>(a); }
extern "C" __global__ void __launch_bounds__(RING_THREADS) ring_copy_rows_4(CopyRowsArgs a) { copy_rows<uint32_t>(a); }
extern "C" __global__ void __launch_bounds__(RING_THREADS) ring_copy_rows_2(CopyRowsArgs a) { copy_rows<uint16_t>(a); }

// --- merge of partial results ---------------------------------------------------------------------
// acc and part are partial results over disjoint key sets: part is out [n, l, h, d] and lse [n, h, l], float32;
// acc covers acc_rows query rows, of which part's l rows start at acc_row0 (a query segment of a shard).
// lse = m + log(exp(lse_a - m) + exp(lse_b - m)) with m = max(lse_a, lse_b); the weights exp(lse_x - lse)
// are in [0, 1]. When both are -inf the row saw no key yet: it stays o = 0, lse = -inf (weights 0, not
// the NaN that -inf - -inf would give). One warp per row: every lane reads the old lse values before
// lane 0 overwrites acc_lse, and no other warp touches the row.
struct MergeArgs {
  uint64_t acc_out;
  uint64_t acc_lse;
  uint64_t part_out;
  uint64_t part_lse;
  int64_t n;
  int64_t l;
  int64_t h;
  int64_t d;
  int64_t acc_rows;
  int64_t acc_row0;
};
static_assert(sizeof(MergeArgs) == 80, "MergeArgs must match cuda-kernels.ts");

extern "C" __global__ void __launch_bounds__(RING_THREADS) ring_merge(MergeArgs a) {
  float* acc_out = reinterpret_cast<float*>(a.acc_out);
  float* acc_lse = reinterpret_cast<float*>(a.acc_lse);
  const float* part_out = reinterpret_cast<const float*>(a.part_out);
  const float* part_lse = reinterpret_cast<const float*>(a.part_lse);
  const int lane = threadIdx.x % 32;
  const int64_t rows = a.n * a.l * a.h;
  const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
  for (int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; row < rows; row += warps) {
    // row enumerates out's [n, l, h] order, so the d values of a row are contiguous.
    const int64_t head = row % a.h;
    const int64_t i = (row / a.h) % a.l;
    const int64_t b = row / (a.h * a.l);
    const int64_t part_lse_index = (b * a.h + head) * a.l + i;
    const int64_t acc_lse_index = (b * a.h + head) * a.acc_rows + a.acc_row0 + i;
    const float la = acc_lse[acc_lse_index];
    const float lb = part_lse[part_lse_index];
    const float m = fmaxf(la, lb);
    float lse, wa, wb;
    if (m == -INFINITY) {
      lse = -INFINITY;
      wa = 0.0f;
      wb = 0.0f;
    } else {
      lse = m + logf(expf(la - m) + expf(lb - m));
      wa = expf(la - lse);
      wb = expf(lb - lse);
    }
    float* o = acc_out + ((b * a.acc_rows + a.acc_row0 + i) * a.h + head) * a.d;
    const float* p = part_out + row * a.d;
    for (int64_t x = lane; x < a.d; x += 32) o[x] = wa * o[x] + wb * p[x];
    __syncwarp();
    if (lane == 0) acc_lse[acc_lse_index] = lse;
  }
}

// --- accumulation and rounding --------------------------------------------------------------------
struct UnaryArgs {
  uint64_t dst;
  uint64_t src;
  int64_t count;
};
static_assert(sizeof(UnaryArgs) == 24, "UnaryArgs must match cuda-kernels.ts");

// dst += src, float32.
extern "C" __global__ void __launch_bounds__(RING_THREADS) ring_add_f32(UnaryArgs a) {
  float* dst = reinterpret_cast<float*>(a.dst);
  const float* src = reinterpret_cast<const float*>(a.src);
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < a.count; i += stride) dst[i] += src[i];
}

// dst rows += src rows, float32, with CopyRowsArgs' geometry (bytes): `height` rows of `width` bytes, row r of
// src at src + r * src_pitch and of dst at dst + r * dst_pitch: a query or key segment added into its place in
// a shard. Widths and pitches are whole floats.
extern "C" __global__ void __launch_bounds__(RING_THREADS) ring_add_rows_f32(CopyRowsArgs a) {
  const int64_t width = a.width / (int64_t)sizeof(float);
  const int64_t total = width * a.height;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t row = i / width;
    const int64_t col = i - row * width;
    float* to = reinterpret_cast<float*>(a.dst + row * a.dst_pitch) + col;
    *to += reinterpret_cast<const float*>(a.src + row * a.src_pitch)[col];
  }
}

// dst = round_to_nearest_even(src): the _rn conversions round ties to even and keep inf and NaN.
extern "C" __global__ void __launch_bounds__(RING_THREADS) ring_cast_f32_f16(UnaryArgs a) {
  __half* dst = reinterpret_cast<__half*>(a.dst);
  const float* src = reinterpret_cast<const float*>(a.src);
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < a.count; i += stride) dst[i] = __float2half_rn(src[i]);
}

extern "C" __global__ void __launch_bounds__(RING_THREADS) ring_cast_f32_bf16(UnaryArgs a) {
  __nv_bfloat16* dst = reinterpret_cast<__nv_bfloat16*>(a.dst);
  const float* src = reinterpret_cast<const float*>(a.src);
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < a.count; i += stride) dst[i] = __float2bfloat16_rn(src[i]);
}
