// One compilation unit per (dtype, head dim): the build passes FLASH_DTYPE (f16 | bf16) and FLASH_HEAD_DIM.
// It defines the four extern "C" kernels of that variant, each taking FlashParams by value:
//   flash_fwd_<dtype>_d<D>, flash_bwd_pre_<dtype>_d<D>, flash_bwd_<dtype>_d<D>, flash_bwd_dq_<dtype>_d<D>,
//   flash_bwd_dq_det_<dtype>_d<D> (the deterministic mode's dq pass), flash_bwd_pre_side_<dtype>_d<D> where
//   SideRows serves the head dim (rows.cuh: bwd_pre beside the Hopper backward),
// and flash_bwd_large_<dtype>_d<D> (phase bwd, bigger tiles) where the head dim has one.
// FLASH_PART (optional) splits the unit so that some kernels take their own ptxas options: 1 = fwd, bwd_pre, bwd,
// bwd_dq, bwd_large unless FLASH_LARGE_APART is defined, and bwd_dq_det unless FLASH_DQ_DET_APART is defined;
// 2 = bwd_large only; 3 = bwd_dq_det only; unset = all.
#include "fwd.cuh"
#include "bwd.cuh"
#include "rows.cuh"
#include "dq.cuh"

#if !defined(FLASH_DTYPE) || !defined(FLASH_HEAD_DIM)
#error "build with -DFLASH_DTYPE=f16|bf16 -DFLASH_HEAD_DIM=<32..256>"
#endif

#include "variant.h"
using FwdShape = flash::Fwd<DType, HEAD_DIM>;
using BwdShape = flash::Bwd<DType, HEAD_DIM, flash::BwdConfig<HEAD_DIM>>;
using BwdLargeShape = flash::Bwd<DType, HEAD_DIM, flash::BwdConfigLarge<HEAD_DIM>>;

// Every kernel's first step (programmatic dependent launch, common/ptx.cuh): the grid before it in the stream has
// completed, and the next launch may place its blocks as these exit. No-ops in the sm_80 and compute_80 code.
__device__ __forceinline__ void follow_previous_grid() {
  flash::wait_for_previous_grid();
  flash::allow_next_grid();
}

#if !defined(FLASH_PART) || FLASH_PART == 1
extern "C" __global__ void __launch_bounds__(FwdShape::THREADS, 1)
    FLASH_NAME(fwd, FLASH_DTYPE, FLASH_HEAD_DIM)(const FlashParams p) {
  follow_previous_grid();
  flash::fwd_kernel<DType, HEAD_DIM>(p);
}

extern "C" __global__ void __launch_bounds__(flash::RowConfig::WARPS * 32)
    FLASH_NAME(bwd_pre, FLASH_DTYPE, FLASH_HEAD_DIM)(const FlashParams p) {
  follow_previous_grid();
  flash::bwd_pre_kernel<DType, HEAD_DIM>(p);
}

#if FLASH_HEAD_DIM == 64 || FLASH_HEAD_DIM == 128 || FLASH_HEAD_DIM == 256
static_assert(flash::SideRows::serves(HEAD_DIM), "bwd_pre_side is built for the head dims SideRows serves");
// Launched only on compute capability 9.0, before the Hopper backward (src/backend/cuda/backward.ts).
extern "C" __global__ void __launch_bounds__(flash::SideRows::THREADS)
    FLASH_NAME(bwd_pre_side, FLASH_DTYPE, FLASH_HEAD_DIM)(const FlashParams p) {
  follow_previous_grid();
  flash::bwd_pre_side_kernel<DType, HEAD_DIM>(p);
}
#endif

extern "C" __global__ void __launch_bounds__(BwdShape::THREADS, 1)
    FLASH_NAME(bwd, FLASH_DTYPE, FLASH_HEAD_DIM)(const FlashParams p) {
  follow_previous_grid();
  flash::bwd_kernel<DType, HEAD_DIM, flash::BwdConfig<HEAD_DIM>>(p);
}

extern "C" __global__ void __launch_bounds__(flash::RowConfig::WARPS * 32)
    FLASH_NAME(bwd_dq, FLASH_DTYPE, FLASH_HEAD_DIM)(const FlashParams p) {
  if (p.dq_done != 0) flash::wait_for_group_items(p);  // the Hopper main kernel may still run (bwd_items.cuh)
  else follow_previous_grid();
  flash::bwd_dq_kernel<DType, HEAD_DIM>(p);
}
#endif

#if !defined(FLASH_PART) || FLASH_PART == 2 || (FLASH_PART == 1 && !defined(FLASH_LARGE_APART))
// Bigger tiles for cards with more than 99 KB of shared memory per block; an empty body where this head dim
// has no large variant (then it is not in the manifest).
extern "C" __global__ void __launch_bounds__(BwdLargeShape::THREADS, 1)
    FLASH_NAME(bwd_large, FLASH_DTYPE, FLASH_HEAD_DIM)(const FlashParams p) {
  follow_previous_grid();
  if constexpr (flash::BwdConfigLarge<HEAD_DIM>::DEFINED) flash::bwd_kernel<DType, HEAD_DIM, flash::BwdConfigLarge<HEAD_DIM>>(p);
}
#endif

#if !defined(FLASH_PART) || FLASH_PART == 3 || (FLASH_PART == 1 && !defined(FLASH_DQ_DET_APART))
extern "C" __global__ void __launch_bounds__(flash::Dq<DType, HEAD_DIM>::THREADS)
    FLASH_NAME(bwd_dq_det, FLASH_DTYPE, FLASH_HEAD_DIM)(const FlashParams p) {
  follow_previous_grid();
  flash::bwd_dq_det_kernel<DType, HEAD_DIM>(p);
}
#endif
