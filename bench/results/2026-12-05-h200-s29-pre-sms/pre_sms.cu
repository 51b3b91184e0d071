// How fast can bwd_pre's work (D = rowsum(dout * o) and dq_accum zeroed) run on a fraction of the SMs?
// A probe for running bwd_pre beside the Hopper backward (bench/NOTES.md P1), not package code. The shapes are the
// standard grid's at d = 256: 16384 tokens, 8 heads of 256, bfloat16 o and dout, float32 dq_accum.
// Each warp takes ROWS (token, head) rows at a time: all their loads first, then the dots, the zeros and D.
// full: one 128-thread block per 16 rows (as kernels/sm80/rows.cuh). grid-stride: G blocks of T threads looping.
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cstdio>
#include <vector>
#include <algorithm>

#define CHECK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)

constexpr int D = 256, CH = D / 128, ROWS = 4;

__global__ void pre(const uint2* __restrict__ o, const uint2* __restrict__ dout, float4* __restrict__ acc,
                    float* __restrict__ dvec, long rows, int zero) {
  const int lane = threadIdx.x & 31;
  const long warp = (long(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const long warps = (long(gridDim.x) * blockDim.x) >> 5;
  for (long r0 = warp * ROWS; r0 < rows; r0 += warps * ROWS) {
    uint2 a[ROWS][CH], b[ROWS][CH];
#pragma unroll
    for (int j = 0; j < ROWS; ++j)
#pragma unroll
      for (int c = 0; c < CH; ++c) {
        const long at = (r0 + j) * (D / 4) + c * 32 + lane;
        a[j][c] = o[at];
        b[j][c] = dout[at];
      }
#pragma unroll
    for (int j = 0; j < ROWS; ++j) {
      float dot = 0.f;
#pragma unroll
      for (int c = 0; c < CH; ++c) {
        const __nv_bfloat16* x = reinterpret_cast<const __nv_bfloat16*>(&a[j][c]);
        const __nv_bfloat16* y = reinterpret_cast<const __nv_bfloat16*>(&b[j][c]);
#pragma unroll
        for (int i = 0; i < 4; ++i) dot += __bfloat162float(x[i]) * __bfloat162float(y[i]);
        if (zero) acc[(r0 + j) * (D / 4) + c * 32 + lane] = make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int s = 16; s > 0; s >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, s);
      if (lane == 0) dvec[r0 + j] = dot;
    }
  }
}

int main() {
  const long rows = 16384L * 8;  // (token, head) rows
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  uint2 *o, *dout; float4* acc; float* dvec;
  CHECK(cudaMalloc(&o, rows * D * 2)); CHECK(cudaMalloc(&dout, rows * D * 2));
  CHECK(cudaMalloc(&acc, rows * D * 4)); CHECK(cudaMalloc(&dvec, rows * 4));
  CHECK(cudaMemset(o, 0x3c, rows * D * 2)); CHECK(cudaMemset(dout, 0x3d, rows * D * 2));
  cudaEvent_t t0, t1; CHECK(cudaEventCreate(&t0)); CHECK(cudaEventCreate(&t1));
  auto time = [&](int blocks, int threads, int zero) -> float {
    for (int i = 0; i < 5; ++i) pre<<<blocks, threads>>>(o, dout, acc, dvec, rows, zero);
    std::vector<float> ms;
    for (int i = 0; i < 25; ++i) {
      cudaEventRecord(t0); pre<<<blocks, threads>>>(o, dout, acc, dvec, rows, zero); cudaEventRecord(t1);
      cudaEventSynchronize(t1); float m; cudaEventElapsedTime(&m, t0, t1); ms.push_back(m);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2] * 1000.f;
  };
  printf("# %d SMs; rows %ld, d %d; bytes moved with zeroing %.1f MB, without %.1f MB\n", sms, rows, D,
         rows * D * 8 / 1e6, rows * D * 4 / 1e6);
  printf("%-26s %10s %10s\n", "grid", "zero us", "D-only us");
  const long full = rows / 16;
  printf("%-26s %10.1f %10.1f\n", "full (16 rows / 128 thr)", time(full, 128, 1), time(full, 128, 0));
  for (int threads : {512, 1024})
    for (int g : {sms, sms * 2 / 3, sms / 2, sms / 3, sms / 4, sms / 6}) {
      char name[64]; snprintf(name, sizeof name, "%d blocks x %d thr", g, threads);
      printf("%-26s %10.1f %10.1f\n", name, time(g, threads, 1), time(g, threads, 0));
    }
  CHECK(cudaGetLastError());
  return 0;
}
