// One compilation unit per (dtype, head dim) for sm_90a: the build passes FLASH_DTYPE (f16 | bf16) and
// FLASH_HEAD_DIM (64, 128, 192, 256). It defines flash_fwd90_<dtype>_d<D>, taking one FwdArgs (tensor maps +
// FlashParams) as a __grid_constant__ parameter, so TMA reads the maps straight from parameter space, and for
// d = 64, 128 (bwd.cuh) and 256 (bwd_wide.cuh) the backward's main pass flash_bwd90_<dtype>_d<D> (one BwdArgs)
// likewise, and at d = 64, 128, 256 the deterministic backward's dq pass flash_bwd_dq_det90_<dtype>_d<D> (dq_det.cuh; the
// same BwdArgs).
#include "fwd.cuh"
#include "bwd.cuh"
#include "bwd_wide.cuh"
#include "dq_det.cuh"

#if !defined(FLASH_DTYPE) || !defined(FLASH_HEAD_DIM)
#error "build with -DFLASH_DTYPE=f16|bf16 -DFLASH_HEAD_DIM=64|128|192|256"
#endif

#include "variant.h"

extern "C" __global__ void __launch_bounds__(flash90::Fwd90<HEAD_DIM>::THREADS, 1)
    FLASH_NAME(fwd90, FLASH_DTYPE, FLASH_HEAD_DIM)(const __grid_constant__ flash90::FwdArgs args) {
  flash90::fwd_kernel<DType, HEAD_DIM>(args);
}

#if FLASH_HEAD_DIM == 64 || FLASH_HEAD_DIM == 128
extern "C" __global__ void __launch_bounds__(flash90::Bwd90<HEAD_DIM>::THREADS, 1)
    FLASH_NAME(bwd90, FLASH_DTYPE, FLASH_HEAD_DIM)(const __grid_constant__ flash90::BwdArgs args) {
  flash90::bwd_kernel<DType, HEAD_DIM>(args);
}
#elif FLASH_HEAD_DIM == 256
extern "C" __global__ void __launch_bounds__(flash90::Bwd90Wide<HEAD_DIM>::THREADS, 1)
    FLASH_NAME(bwd90, FLASH_DTYPE, FLASH_HEAD_DIM)(const __grid_constant__ flash90::BwdArgs args) {
  flash90::bwd_wide_kernel<DType, HEAD_DIM>(args);
}
#endif
#if FLASH_HEAD_DIM == 64 || FLASH_HEAD_DIM == 128 || FLASH_HEAD_DIM == 256
extern "C" __global__ void __launch_bounds__(flash90::DqDet90<HEAD_DIM>::THREADS, 1)
    FLASH_NAME(bwd_dq_det90, FLASH_DTYPE, FLASH_HEAD_DIM)(const __grid_constant__ flash90::BwdArgs args) {
  flash90::dq_det_kernel<DType, HEAD_DIM>(args);
}
#endif
