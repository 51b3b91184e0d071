// bwd_pre_side's ready flags (FlashParams.ready_rows, kernels/sm80/rows.cuh), waited for by both families: the Hopper
// backward's row lanes before each step, and bwd_dq before it reads its rows of dq_accum.
#pragma once
#include <stdint.h>
#include "params.h"

namespace flash {

// Spins until the flag at `flag` reads nonzero: an acquire load, after bwd_pre_side's release.
__device__ __forceinline__ void wait_for_flag(const uint32_t* flag) {
  for (;;) {
    uint32_t value;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(value) : "l"(flag) : "memory");
    if (value != 0) break;
    __nanosleep(100);
  }
}

// The flags [first, last] of `flags`, not inlined. Meant to keep the wait's registers out of the d = 64 Hopper
// backward's 24-register producer; it does not: that kernel spills 8 bytes with the wait inlined or called (bench/NOTES.md
// SIDE64, SPILL1). The called form is kept because it is the one measured on a GPU. Scalars only: given the params by
// reference, a call copies them to the stack.
__device__ __noinline__ void wait_for_flags_called(const uint32_t* flags, int first, int last) {
  for (int c = first; c <= last; ++c) wait_for_flag(flags + c);
}

// Rows [first, end) of (batch, head) `bh` (b * h + head, below 2^31 as the grids' limits keep it) have their D and
// zeroed dq_accum rows once the flags of the chunks they cover read nonzero. The flags are n * h * chunks words after
// dq_done's n * hk counters. CALLED: the wait as a call (wait_for_flags_called), for callers short of registers.
template <bool CALLED = false>
__device__ __forceinline__ void wait_for_ready_rows(const FlashParams& p, int bh, int first, int end) {
  const int chunks = (p.lq + int(p.ready_rows) - 1) / int(p.ready_rows);
  const uint32_t* ready = reinterpret_cast<const uint32_t*>(p.dq_done) + int64_t(p.n) * p.hk + int64_t(bh) * chunks;
  if constexpr (CALLED) {
    wait_for_flags_called(ready, first / int(p.ready_rows), (end - 1) / int(p.ready_rows));
  } else {
    for (int c = first / int(p.ready_rows); c <= (end - 1) / int(p.ready_rows); ++c) wait_for_flag(ready + c);
  }
}

}  // namespace flash
