// A probe for bench/NOTES.md R4 (not part of the package): the backward's row passes built with another count of
// rows per block, to time them by themselves (rowpass_probe.py). Built once per size R with
//   nvcc -std=c++17 -O3 -I../common -DFLASH_PRE_ROWS=R -DFLASH_DQ_ROWS=R -gencode arch=compute_90,code=sm_90 \
//     -cubin -o rowpass_R.cubin rowpass_probe.cu
#include "../sm80/rows.cuh"

#define ROW_PASSES(D) \
  extern "C" __global__ void __launch_bounds__(flash::RowConfig::WARPS * 32) probe_pre_d##D(const FlashParams p) { \
    flash::bwd_pre_kernel<flash::BFloat16, D>(p); \
  } \
  extern "C" __global__ void __launch_bounds__(flash::RowConfig::WARPS * 32) probe_dq_d##D(const FlashParams p) { \
    flash::bwd_dq_kernel<flash::BFloat16, D>(p); \
  }
ROW_PASSES(64)
ROW_PASSES(128)
ROW_PASSES(256)
