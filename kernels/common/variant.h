// The variant a compilation unit builds, from the build's -DFLASH_DTYPE=f16|bf16 and -DFLASH_HEAD_DIM=<d>: the dtype
// traits as DType, the head dim as HEAD_DIM, and FLASH_NAME(phase, dtype, d) -> flash_<phase>_<dtype>_d<d>, the
// extern "C" kernel names the manifest lists. Include after the kernel headers (it needs flash::Float16/BFloat16).
#pragma once

#define FLASH_f16 flash::Float16
#define FLASH_bf16 flash::BFloat16
#define FLASH_CAT3(a, b, c) a##b##c
#define FLASH_DT(x) FLASH_CAT3(FLASH_, x, )
#define FLASH_NAME4(phase, dt, d) flash_##phase##_##dt##_d##d
#define FLASH_NAME(phase, dt, d) FLASH_NAME4(phase, dt, d)

using DType = FLASH_DT(FLASH_DTYPE);
constexpr int HEAD_DIM = FLASH_HEAD_DIM;
