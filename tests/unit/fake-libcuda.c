/*
 * A fake libcuda.so.1 for testing the koffi declarations of cuTensorMapEncodeTiled without a GPU: every
 * symbol driver.ts declares exists; most succeed and write nothing (zero handles), a device reports one
 * 9.0 device with memory pools, and cuTensorMapEncodeTiled refuses a map address that is not 64-byte
 * aligned (as the real one does) and otherwise writes what it received into the map, laid out as
 * tests/unit/cuda-fake-driver.ts's decodeFakeTensorMap reads it. cuLaunchKernelEx reads its CUlaunchConfig as
 * cuda.h lays it out and keeps what it found for fakeLastLaunchConfig (not a driver function) to report.
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define STUB(name) int name(void) { return 0; }
STUB(cuInit) STUB(cuDriverGetVersion) STUB(cuGetErrorName) STUB(cuGetErrorString) STUB(cuDeviceGet)
STUB(cuDeviceGetName) STUB(cuDevicePrimaryCtxRetain) STUB(cuDevicePrimaryCtxRelease_v2) STUB(cuCtxSetCurrent)
STUB(cuStreamDestroy_v2) STUB(cuStreamSynchronize) STUB(cuEventCreate) STUB(cuEventDestroy_v2)
STUB(cuEventRecord) STUB(cuEventQuery) STUB(cuStreamWaitEvent) STUB(cuEventSynchronize) STUB(cuEventElapsedTime)
STUB(cuDeviceGetDefaultMemPool) STUB(cuMemPoolSetAttribute) STUB(cuMemPoolGetAttribute) STUB(cuMemAllocAsync)
STUB(cuMemFreeAsync) STUB(cuMemGetInfo_v2) STUB(cuMemcpyHtoDAsync_v2) STUB(cuMemcpyDtoHAsync_v2)
STUB(cuMemcpyDtoDAsync_v2) STUB(cuMemsetD8Async) STUB(cuMemsetD32Async) STUB(cuModuleLoadData) STUB(cuModuleUnload)
STUB(cuModuleGetFunction) STUB(cuFuncSetAttribute) STUB(cuLaunchKernel) STUB(cuDeviceCanAccessPeer)
STUB(cuMemPoolSetAccess)

int cuDeviceGetCount(int *count) { *count = 1; return 0; }

/* A stream handle with both 32-bit halves set, so that a launch config shows where the stream went. */
int cuStreamCreate(uint64_t *stream, unsigned flags) {
  (void)flags;
  *stream = 0x0000abcd12345678ull;
  return 0;
}

int cuDeviceGetAttribute(int *value, int attribute, int device) {
  (void)device;
  *value = attribute == 75 ? 9 : attribute == 76 ? 0 : 1; /* compute capability 9.0; pools supported */
  return 0;
}

int cuTensorMapEncodeTiled(void *map, int dataType, unsigned rank, uint64_t globalAddress, const uint64_t *globalDim,
                           const uint64_t *globalStrides, const uint32_t *boxDim, const uint32_t *elementStrides,
                           int interleave, int swizzle, int l2Promotion, int oobFill) {
  if ((uintptr_t)map % 64 != 0 || rank != 4) return 1; /* CUDA_ERROR_INVALID_VALUE */
  uint8_t *out = map;
  const uint32_t settings[6] = {(uint32_t)dataType, rank, (uint32_t)interleave, (uint32_t)swizzle, (uint32_t)l2Promotion, (uint32_t)oobFill};
  memset(out, 0, 128);
  memcpy(out, &globalAddress, 8);
  memcpy(out + 8, globalDim, 4 * 8);
  memcpy(out + 40, globalStrides, 3 * 8);
  memcpy(out + 64, boxDim, 4 * 4);
  memcpy(out + 80, elementStrides, 4 * 4);
  memcpy(out + 96, settings, sizeof settings);
  return 0;
}

/* cuda.h's CUlaunchConfig and CUlaunchAttribute, spelled out (this file is built without the CUDA headers). */
typedef struct {
  uint32_t id;
  char pad[4];
  union { char pad[64]; int programmaticStreamSerializationAllowed; } value;
} FakeLaunchAttribute;
typedef struct {
  uint32_t gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes;
  uint64_t hStream;
  const FakeLaunchAttribute *attrs;
  uint32_t numAttrs;
} FakeLaunchConfig;

/* The offsets src/backend/cuda/driver.ts writes (CU_LAUNCH_CONFIG_LAYOUT and the attribute's), as cuda.h has them. */
_Static_assert(offsetof(FakeLaunchConfig, hStream) == 32 && offsetof(FakeLaunchConfig, attrs) == 40 &&
               offsetof(FakeLaunchConfig, numAttrs) == 48 && sizeof(FakeLaunchConfig) == 56, "CUlaunchConfig");
_Static_assert(offsetof(FakeLaunchAttribute, value) == 8 && sizeof(FakeLaunchAttribute) == 72, "CUlaunchAttribute");

/* grid x y z, block x y z, shared bytes, stream low and high words, attribute count, first id and value, and
 * whether kernelParams[0] was set. */
#define LAUNCH_FIELDS 13
static uint32_t lastLaunch[LAUNCH_FIELDS];

#ifndef WITHOUT_LAUNCH_EX /* built with it: a driver from before CUDA 12.0, which has no cuLaunchKernelEx */

int cuLaunchKernelEx(const FakeLaunchConfig *config, uint64_t fn, void **kernelParams, void **extra) {
  (void)fn;
  if (config == 0 || extra != 0) return 1;
  const uint32_t fields[LAUNCH_FIELDS] = {
      config->gridDimX, config->gridDimY, config->gridDimZ, config->blockDimX, config->blockDimY, config->blockDimZ,
      config->sharedMemBytes, (uint32_t)config->hStream, (uint32_t)(config->hStream >> 32), config->numAttrs,
      config->numAttrs > 0 ? config->attrs[0].id : 0,
      config->numAttrs > 0 ? (uint32_t)config->attrs[0].value.programmaticStreamSerializationAllowed : 0,
      kernelParams != 0 && kernelParams[0] != 0};
  memcpy(lastLaunch, fields, sizeof fields);
  return 0;
}
#endif

void fakeLastLaunchConfig(uint32_t *out) { memcpy(out, lastLaunch, sizeof lastLaunch); }
