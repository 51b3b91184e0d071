// The one ABI between TypeScript and every flash-attn kernel. Mirrored field by field in
// src/backend/cuda/abi.ts; tests/unit/abi.test.ts compiles this header with the host C++ compiler and
// checks that every offset and the total size agree. Plain C types only, so both compilers see one layout.
//
// Tensors are row-major and contiguous: q, o, dout, dq are [n, lq, h, d]; k, v, dk, dv are [n, lk, hk, d];
// lse and softmax_d are [n, h, lq] float32; dq_accum is [n, lq, h, d] float32. Offsets into them are
// computed in 64 bits inside the kernels (a tensor may exceed 2^31 elements).
//
// Mask (already resolved on the host; isCausal arrives as window_right = 0): key j is allowed for query i iff
//   (window_left  < 0 || j >= i + diagonal_offset - window_left) &&
//   (window_right < 0 || j <= i + diagonal_offset + window_right)
// diagonal_offset is lk - lq for an ordinary call (bottom-right alignment).
#pragma once
#include <stdint.h>

typedef struct FlashParams {
  // Device addresses (CUdeviceptr). Unused ones are 0.
  uint64_t q;         // [n, lq, h, d]  dtype
  uint64_t k;         // [n, lk, hk, d] dtype
  uint64_t v;         // [n, lk, hk, d] dtype
  uint64_t o;         // [n, lq, h, d]  dtype, or float32 when out_float32
  uint64_t lse;       // [n, h, lq]     float32
  uint64_t dout;      // [n, lq, h, d]  dtype (backward)
  uint64_t dq;        // [n, lq, h, d]  dtype, or float32 when out_float32 (backward)
  uint64_t dk;        // [n, lk, hk, d] dtype, or float32 when out_float32 (backward)
  uint64_t dv;        // [n, lk, hk, d] dtype, or float32 when out_float32 (backward)
  uint64_t dq_accum;  // [n, lq, h, d]  float32 workspace (backward)
  uint64_t softmax_d; // [n, h, lq]     float32 workspace: D_i = dot(dout_i, o_i) (backward)
  uint64_t tile_counter; // one uint32, zero at launch: the Hopper forward's blocks claim tiles from it

  int32_t n;
  int32_t lq;
  int32_t lk;
  int32_t h;
  int32_t hk;
  int32_t d;               // actual head dim, 1..256; the kernel's compiled head dim is >= d
  int32_t window_left;     // -1 = unbounded
  int32_t window_right;    // -1 = unbounded; 0 when causal
  int32_t diagonal_offset; // lk - lq unless ring attention sets it
  int32_t out_float32;     // 1: o, dq, dk, dv are written as float32 (ring attention merges before rounding)
  float softmax_scale;     // multiplies q.k
  float softmax_scale_log2; // softmax_scale * log2(e), for exp2-based softmax
  // 0, or n * hk uint32 counters, one per (batch, kv head), that bwd_pre zeroes, the Hopper backward's main kernel
  // counts its finished items on (kernels/sm90/bwd_items.cuh, where the manifest says countsDqItems) and bwd_dq waits
  // on, per group, instead of waiting for the whole main kernel (kernels/sm80/rows.cuh). Last, so that kernels built
  // before these fields read the same prefix.
  uint64_t dq_done;
  uint32_t dq_done_whole;  // what each of dq_done's counters reads once its group's items are all in
  // 0, or the query rows each ready flag stands for: bwd_pre_side (kernels/sm80/rows.cuh) runs beside the Hopper
  // backward instead of before it and releases a flag per ready_rows rows of a (batch, head) once their D and zeroed
  // dq_accum rows are stored; the flags are n * h * ceil(lq / ready_rows) uint32 words right after dq_done's n * hk
  // counters (zeroed with them by the host before bwd_pre_side), and the Hopper backward waits on them per step
  // instead of for the grid before it (kernels/sm90/bwd_items.cuh, where the manifest says waitsForReadyRows).
  uint32_t ready_rows;
  // 0, or the grid of the Hopper backward's main kernel beside which bwd_pre_side runs: bwd_pre_side then zeroes (and
  // computes D for) the rows of a (batch, kv head) only once that kernel has claimed items up to a distance before
  // the group's first item (kernels/common/bwd_order.cuh), reading its claims at tile_counter, so that the zeros are
  // still in L2 when the main kernel adds into them (kernels/sm80/rows.cuh pace_rows).
  uint32_t pace_grid;
  uint32_t pace_key_rows;  // the main kernel's keys per item, where pace_grid != 0
} FlashParams;
