// bwd_pre_side's ready flags (FlashParams.ready_rows, kernels/sm80/rows.cuh), waited for by both families: the Hopper
// backward's row lanes before each step, and bwd_dq before it reads its rows of dq_accum.
#pragma once
#include <stdint.h>
#include "params.h"

namespace flash {

// Rows [first, end) of (batch, head) `bh` (b * h + head, below 2^31 as the grids' limits keep it) have their D and
// zeroed dq_accum rows once the flags of the chunks they cover read nonzero: an acquire load each, after
// bwd_pre_side's release. The flags are n * h * chunks words after dq_done's n * hk counters.
__device__ __forceinline__ void wait_for_ready_rows(const FlashParams& p, int bh, int first, int end) {
  const int chunks = (p.lq + int(p.ready_rows) - 1) / int(p.ready_rows);
  const uint32_t* ready = reinterpret_cast<const uint32_t*>(p.dq_done) + int64_t(p.n) * p.hk + int64_t(bh) * chunks;
  for (int c = first / int(p.ready_rows); c <= (end - 1) / int(p.ready_rows); ++c) {
    for (;;) {
      uint32_t flag;
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(flag) : "l"(ready + c) : "memory");
      if (flag != 0) break;
      __nanosleep(100);
    }
  }
}

}  // namespace flash
