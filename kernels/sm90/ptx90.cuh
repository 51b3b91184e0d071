// Inline PTX for the sm_90a kernels: mbarriers, TMA tile loads, wgmma fences and shared-memory descriptors,
// setmaxnreg. One function per instruction (or fixed instruction pair), and the one hardware limit the layouts meet.
#pragma once
#include <stdint.h>
#include "ptx.cuh"

namespace flash90 {

using flash::smem_addr;

// The most dynamic shared memory a block may opt in to on sm_90 (227 KB).
constexpr int MAX_SMEM_BYTES = 232448;

// ---- mbarrier (shared::cta) ----
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Makes the initialized barriers visible to the copy engine (async proxy) before any thread uses them.
__device__ __forceinline__ void fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// One arrival that also announces `bytes` of incoming TMA data for the current phase.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Waits until the phase with this parity has completed (a fresh barrier counts parity 1 as completed).
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  do {
    asm volatile(
        "{\n.reg .pred p;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

// ---- TMA: one box of a rank-4 tensor map into shared memory, completing on an mbarrier ----
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const void* tensor_map, int c0, int c1, int c2, int c3,
                                            uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], "
      "[%6];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(tensor_map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
      : "memory");
}
__device__ __forceinline__ void prefetch_tensor_map(const void* tensor_map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(tensor_map)) : "memory");
}

// ---- TMA: one box of shared memory added element-wise into a rank-4 tensor (the map's data type: float32) ----
// Tracked by this thread's bulk async-groups: commit after issuing, then wait before the source is rewritten.
__device__ __forceinline__ void tma_reduce_add_4d(const void* tensor_map, uint32_t src, int c0, int c1, int c2, int c3) {
  asm volatile(
      "cp.reduce.async.bulk.tensor.4d.global.shared::cta.add.tile.bulk_group [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(
          reinterpret_cast<uint64_t>(tensor_map)),
      "r"(src), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
}
// ---- TMA: one box of shared memory stored into a rank-4 tensor; elements past the tensor's end are left out ----
// Tracked like the reductions above. Unlike a load's, the box must not start before coordinate 0: on the H200 such a
// store is an illegal instruction (bench/NOTES.md F15).
__device__ __forceinline__ void tma_store_4d(const void* tensor_map, uint32_t src, int c0, int c1, int c2, int c3) {
  asm volatile("cp.async.bulk.tensor.4d.global.shared::cta.tile.bulk_group [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(
                   reinterpret_cast<uint64_t>(tensor_map)),
               "r"(src), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
               : "memory");
}
__device__ __forceinline__ void bulk_commit_group() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// At most N of this thread's committed groups still read their shared-memory source.
template <int N>
__device__ __forceinline__ void bulk_wait_group_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
// At most N of this thread's committed groups are still incomplete (their writes to global memory included).
template <int N>
__device__ __forceinline__ void bulk_wait_group() {
  asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
}

// ---- wgmma ordering ----
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Pins accumulator registers at this point of the program: reads after a wgmma_wait cannot move above it.
template <int K>
__device__ __forceinline__ void fence_registers(float (&r)[K]) {
#pragma unroll
  for (int i = 0; i < K; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

// This lane's value of v as one the compiler knows is equal in every lane of the warp (a broadcast from lane 0; v
// must be warp-uniform already, e.g. the warpgroup index), so that what derives from it, wgmma descriptors above
// all, can be kept and computed in uniform registers instead of being moved there (R2UR) before every wgmma.
__device__ __forceinline__ int warp_uniform(int v) { return __shfl_sync(0xffffffffu, v, 0); }

// ---- shared-memory matrix descriptors, 128-byte swizzle ----
// A tile is stored in bands of 64 columns (128 bytes per row, 8-row atoms of 1024 bytes, 16-byte chunk c of row r
// at c ^ (r % 8)): exactly what TMA writes with CU_TENSOR_MAP_SWIZZLE_128B. Addresses must keep the atoms
// 1024-byte aligned; stepping along K inside a band adds bytes to the start address.
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr, uint32_t leading_bytes, uint32_t stride_bytes) {
  return uint64_t((addr & 0x3FFFF) >> 4) | (uint64_t(leading_bytes >> 4) << 16) |
         (uint64_t(stride_bytes >> 4) << 32) | (uint64_t(1) << 62);
}
// The descriptor of the operand `bytes` (a multiple of 16) after the one `desc` describes: only the start-address
// field (bits 0-13) changes, and it cannot carry into the next field since every shared-memory address is below
// 2^18. One add instead of smem_desc's mask, shift and or per wgmma.
__device__ __forceinline__ uint64_t desc_advance(uint64_t desc, uint32_t bytes) {
  return (desc & 0xFFFFFFFF00000000ull) | uint32_t(uint32_t(desc) + (bytes >> 4));
}
// K-major operand (rows along M or N, K contiguous): consecutive 8-row atoms 1024 bytes apart.
__device__ __forceinline__ uint64_t desc_k_major(uint32_t addr) { return smem_desc(addr, 16, 1024); }
// N-major operand (rows along K, N contiguous): 8-row atoms along K 1024 bytes apart, 64-column bands of N
// band_bytes apart.
__device__ __forceinline__ uint64_t desc_n_major(uint32_t addr, uint32_t band_bytes) {
  return smem_desc(addr, band_bytes, 1024);
}
// Where k16 step kk of a K-major operand starts: four 32-byte steps along a band's 128-byte rows, then the next
// band, BAND bytes on.
template <int BAND>
__device__ __forceinline__ uint64_t desc_k_step(uint64_t rows, int kk) {
  return desc_advance(rows, (kk / 4) * BAND + (kk % 4) * 32);
}

// Four 8 x 8 16-bit matrices, each held by the warp in the mma.sync accumulator layout (lane l: row l / 4, columns
// 2 (l % 4) and + 1, packed in one register): row r of matrix i goes to the 16 bytes at the address lane 8 i + r passes.
__device__ __forceinline__ void stmatrix_x4(uint32_t addr, const uint32_t (&m)[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(m[0]), "r"(m[1]),
               "r"(m[2]), "r"(m[3])
               : "memory");
}

// Four 8 x 8 16-bit matrices, each held by the warp in the mma.sync accumulator layout (lane l: row l / 4, columns
// 2 (l % 4) and + 1, packed in one register), written transposed: column c of matrix i goes to the 16 bytes at the
// address lane 8 i + c passes.
__device__ __forceinline__ void stmatrix_x4_trans(uint32_t addr, const uint32_t (&m)[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(m[0]),
               "r"(m[1]), "r"(m[2]), "r"(m[3])
               : "memory");
}

// Orders this thread's generic-proxy shared-memory stores before later async-proxy reads (wgmma, TMA) of them;
// a barrier after it extends that to the other threads' reads.
__device__ __forceinline__ void fence_proxy_async_smem() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Orders this thread's view of global memory between the generic proxy and the async proxy (TMA): after a bulk
// group's completion, its writes before this thread's later generic release of them.
__device__ __forceinline__ void fence_proxy_async_global() {
  asm volatile("fence.proxy.async.global;\n" ::: "memory");
}

// ---- named barriers (id 0 is __syncthreads) ----
__device__ __forceinline__ void named_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// ---- register reallocation between warpgroups ----
template <int REGS>
__device__ __forceinline__ void regs_increase() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(REGS));
}
template <int REGS>
__device__ __forceinline__ void regs_decrease() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(REGS));
}

}  // namespace flash90
