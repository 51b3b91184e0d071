/**
 * Raw declarations of the CUDA driver API (libcuda), under their C names, bound with koffi. Nothing here
 * checks errors or owns resources: runtime.ts does. The library is opened only when `loadDriver()` is
 * called, so importing flash-attn on a machine without the NVIDIA driver works.
 */
import { createRequire } from 'node:module';
import { envSetting } from '../../env.js';

export type CUresult = number;
export const CUDA_SUCCESS = 0;
export const CUDA_ERROR_NOT_READY = 600;

declare const handleBrand: unique symbol;
/** A driver handle: a 64-bit value that only the driver interprets. */
export type Handle<Name extends string> = bigint & { readonly [handleBrand]: Name };
export type CUdevice = number & { readonly [handleBrand]: 'CUdevice' };
export type CUcontext = Handle<'CUcontext'>;
export type CUstream = Handle<'CUstream'>;
export type CUevent = Handle<'CUevent'>;
export type CUmodule = Handle<'CUmodule'>;
export type CUfunction = Handle<'CUfunction'>;
export type CUmemoryPool = Handle<'CUmemoryPool'>;
/** A device address. */
export type CUdeviceptr = Handle<'CUdeviceptr'>;

/** A C out-parameter: the call writes element 0. */
export type Out<T> = [T];
/** A 64-bit value as koffi returns it: a number when it fits in 53 bits, a bigint otherwise. */
export type Raw64 = number | bigint;
/** Host memory passed to the driver by address (for the duration of the call). */
export type HostBuffer = Uint8Array | Uint16Array | Float32Array;
/** The `void **kernelParams` argument of cuLaunchKernel, as built by `CudaDriver.kernelParams`. */
export type KernelParams = { readonly [handleBrand]: 'KernelParams' };

/** The `const CUlaunchConfig *` argument of cuLaunchKernelEx, as built by `CudaDriver.launchConfig`. */
export type LaunchConfig = { readonly [handleBrand]: 'LaunchConfig' };

/** What a launch's CUlaunchConfig says besides its one attribute. */
export interface LaunchShape {
  grid: readonly [number, number, number];
  threads: number;
  sharedBytes: number;
  stream: bigint;
}

/**
 * Native memory for one CUtensorMap (128 bytes, aligned as CU_TENSOR_MAP_ALIGNMENT), where
 * cuTensorMapEncodeTiled writes. JS buffers promise no such alignment (and small ones move), so the map is
 * written here and copied out.
 */
export interface TensorMapSlot {
  /** The aligned address to pass as cuTensorMapEncodeTiled's first argument. */
  readonly address: bigint;
  /** A copy of the 128 bytes there now. */
  read(): Uint8Array;
}

// Enum values from cuda.h.
export const CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
export const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
export const CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
export const CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED = 115;
export const CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
export const CU_MEMPOOL_ATTR_RELEASE_THRESHOLD = 4;
export const CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT = 5;
export const CU_MEMPOOL_ATTR_USED_MEM_CURRENT = 7;
export const CU_EVENT_DEFAULT = 0;
export const CU_EVENT_DISABLE_TIMING = 2;
export const CU_STREAM_DEFAULT = 0;
/**
 * CUlaunchConfig (cuda.h, CUDA 12.0 on; 64-bit ABI): seven unsigned ints (grid, block, sharedMemBytes), the
 * stream at 32, the attribute array's address at 40, their count at 48. CUlaunchAttribute: the id, 4 bytes of
 * padding, a 64-byte value union.
 */
export const CU_LAUNCH_CONFIG_LAYOUT = { stream: 32, attrs: 40, numAttrs: 48, bytes: 56 } as const;
export const CU_LAUNCH_ATTRIBUTE_BYTES = 72;
export const CU_LAUNCH_ATTRIBUTE_VALUE_OFFSET = 8;
/** The launch may start while the kernel before it in the stream runs (programmatic dependent launch). */
export const CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;
/** sizeof(CUtensorMap). */
export const CU_TENSOR_MAP_BYTES = 128;
/**
 * alignof(CUtensorMap): cuda.h of CUDA 13.0 declares it alignas(128) (12.x said 64, which is all that
 * cuTensorMapEncodeTiled requires of its output). Structs holding maps are laid out with 128.
 */
export const CU_TENSOR_MAP_ALIGNMENT = 128;
export const CU_TENSOR_MAP_DATA_TYPE_UINT16 = 1;
export const CU_TENSOR_MAP_DATA_TYPE_FLOAT32 = 7;
export const CU_TENSOR_MAP_INTERLEAVE_NONE = 0;
export const CU_TENSOR_MAP_SWIZZLE_128B = 3;
export const CU_TENSOR_MAP_L2_PROMOTION_L2_256B = 3;
/** Elements outside the tensor read as zero. */
export const CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0;

/** The driver functions flash-attn uses. Handles go in as bigints and come out through Out<Raw64>. */
export interface CudaDriver {
  cuInit(flags: number): CUresult;
  cuDriverGetVersion(version: Out<number>): CUresult;
  cuGetErrorName(error: CUresult, name: Out<string | null>): CUresult;
  cuGetErrorString(error: CUresult, description: Out<string | null>): CUresult;
  cuDeviceGetCount(count: Out<number>): CUresult;
  cuDeviceGet(device: Out<number>, ordinal: number): CUresult;
  cuDeviceGetName(name: Uint8Array, length: number, device: number): CUresult;
  cuDeviceGetAttribute(value: Out<number>, attribute: number, device: number): CUresult;
  cuDevicePrimaryCtxRetain(context: Out<Raw64>, device: number): CUresult;
  cuDevicePrimaryCtxRelease(device: number): CUresult;
  cuCtxSetCurrent(context: bigint): CUresult;
  cuStreamCreate(stream: Out<Raw64>, flags: number): CUresult;
  cuStreamDestroy(stream: bigint): CUresult;
  cuStreamSynchronize(stream: bigint): CUresult;
  cuEventCreate(event: Out<Raw64>, flags: number): CUresult;
  cuEventDestroy(event: bigint): CUresult;
  cuEventRecord(event: bigint, stream: bigint): CUresult;
  cuEventQuery(event: bigint): CUresult;
  cuStreamWaitEvent(stream: bigint, event: bigint, flags: number): CUresult;
  cuEventSynchronize(event: bigint): CUresult;
  cuEventElapsedTime(milliseconds: Out<number>, start: bigint, end: bigint): CUresult;
  cuDeviceGetDefaultMemPool(pool: Out<Raw64>, device: number): CUresult;
  cuMemPoolSetAttribute(pool: bigint, attribute: number, value: [bigint]): CUresult;
  cuMemPoolGetAttribute(pool: bigint, attribute: number, value: Out<Raw64>): CUresult;
  cuDeviceCanAccessPeer(canAccess: Out<number>, device: number, peer: number): CUresult;
  /** `descriptors`: CUmemAccessDesc structs, three int32 each (location type, location id, flags). */
  cuMemPoolSetAccess(pool: bigint, descriptors: Int32Array, count: number): CUresult;
  cuMemAllocAsync(pointer: Out<Raw64>, bytes: number, stream: bigint): CUresult;
  cuMemFreeAsync(pointer: bigint, stream: bigint): CUresult;
  cuMemGetInfo(free: Out<Raw64>, total: Out<Raw64>): CUresult;
  cuMemcpyHtoDAsync(dst: bigint, src: HostBuffer, bytes: number, stream: bigint): CUresult;
  cuMemcpyDtoHAsync(dst: HostBuffer, src: bigint, bytes: number, stream: bigint): CUresult;
  cuMemcpyDtoDAsync(dst: bigint, src: bigint, bytes: number, stream: bigint): CUresult;
  cuMemsetD8Async(dst: bigint, value: number, count: number, stream: bigint): CUresult;
  cuMemsetD32Async(dst: bigint, value: number, count: number, stream: bigint): CUresult;
  cuModuleLoadData(module: Out<Raw64>, image: Uint8Array): CUresult;
  cuModuleUnload(module: bigint): CUresult;
  cuModuleGetFunction(fn: Out<Raw64>, module: bigint, name: string): CUresult;
  cuFuncSetAttribute(fn: bigint, attribute: number, value: number): CUresult;
  cuLaunchKernel(
    fn: bigint,
    gridX: number,
    gridY: number,
    gridZ: number,
    blockX: number,
    blockY: number,
    blockZ: number,
    sharedMemBytes: number,
    stream: bigint,
    kernelParams: KernelParams,
    extra: null,
  ): CUresult;
  /**
   * Absent where libcuda has no such symbol (drivers before CUDA 12.0); flash-attn passes only configs from
   * `launchConfig`.
   */
  cuLaunchKernelEx?(config: LaunchConfig, fn: bigint, kernelParams: KernelParams, extra: null): CUresult;
  /** `tensorMap` is the address of a TensorMapSlot; dims, strides and boxes are read during the call. */
  cuTensorMapEncodeTiled(
    tensorMap: bigint,
    dataType: number,
    rank: number,
    globalAddress: bigint,
    globalDim: BigUint64Array,
    globalStrides: BigUint64Array,
    boxDim: Uint32Array,
    elementStrides: Uint32Array,
    interleave: number,
    swizzle: number,
    l2Promotion: number,
    oobFill: number,
  ): CUresult;
  /**
   * Not a driver function: builds the `void **kernelParams` array for a kernel whose only parameter is
   * the struct `bytes` (copied; valid until the next call). The driver copies parameters at launch.
   */
  kernelParams(bytes: Uint8Array): KernelParams;
  /** Not a driver function: the one TensorMapSlot of this driver (its contents change with each encode). */
  tensorMapSlot(): TensorMapSlot;
  /**
   * Not a driver function: a CUlaunchConfig for `shape` with one attribute, programmatic stream serialization
   * allowed (valid until the next call; the driver reads it during cuLaunchKernelEx).
   */
  launchConfig(shape: LaunchShape): LaunchConfig;
}

type Koffi = typeof import('koffi');

/** The C prototypes; versioned symbols (`_v2`) are the ones cuda.h's macros select. */
type NotDriverCalls = 'kernelParams' | 'tensorMapSlot' | 'launchConfig';
type OptionalCalls = 'cuLaunchKernelEx';
const PROTOTYPES: Record<Exclude<keyof CudaDriver, NotDriverCalls | OptionalCalls>, string> = {
  cuInit: 'int cuInit(unsigned int flags)',
  cuDriverGetVersion: 'int cuDriverGetVersion(_Out_ int *version)',
  cuGetErrorName: 'int cuGetErrorName(int error, _Out_ const char **name)',
  cuGetErrorString: 'int cuGetErrorString(int error, _Out_ const char **description)',
  cuDeviceGetCount: 'int cuDeviceGetCount(_Out_ int *count)',
  cuDeviceGet: 'int cuDeviceGet(_Out_ int *device, int ordinal)',
  cuDeviceGetName: 'int cuDeviceGetName(void *name, int length, int device)',
  cuDeviceGetAttribute: 'int cuDeviceGetAttribute(_Out_ int *value, int attribute, int device)',
  cuDevicePrimaryCtxRetain: 'int cuDevicePrimaryCtxRetain(_Out_ uint64_t *context, int device)',
  cuDevicePrimaryCtxRelease: 'int cuDevicePrimaryCtxRelease_v2(int device)',
  cuCtxSetCurrent: 'int cuCtxSetCurrent(uint64_t context)',
  cuStreamCreate: 'int cuStreamCreate(_Out_ uint64_t *stream, unsigned int flags)',
  cuStreamDestroy: 'int cuStreamDestroy_v2(uint64_t stream)',
  cuStreamSynchronize: 'int cuStreamSynchronize(uint64_t stream)',
  cuEventCreate: 'int cuEventCreate(_Out_ uint64_t *event, unsigned int flags)',
  cuEventDestroy: 'int cuEventDestroy_v2(uint64_t event)',
  cuEventRecord: 'int cuEventRecord(uint64_t event, uint64_t stream)',
  cuEventQuery: 'int cuEventQuery(uint64_t event)',
  cuStreamWaitEvent: 'int cuStreamWaitEvent(uint64_t stream, uint64_t event, unsigned int flags)',
  cuEventSynchronize: 'int cuEventSynchronize(uint64_t event)',
  cuEventElapsedTime: 'int cuEventElapsedTime(_Out_ float *milliseconds, uint64_t start, uint64_t end)',
  cuDeviceGetDefaultMemPool: 'int cuDeviceGetDefaultMemPool(_Out_ uint64_t *pool, int device)',
  cuMemPoolSetAttribute: 'int cuMemPoolSetAttribute(uint64_t pool, int attribute, uint64_t *value)',
  cuMemPoolGetAttribute: 'int cuMemPoolGetAttribute(uint64_t pool, int attribute, _Out_ uint64_t *value)',
  cuDeviceCanAccessPeer: 'int cuDeviceCanAccessPeer(_Out_ int *canAccess, int device, int peer)',
  cuMemPoolSetAccess: 'int cuMemPoolSetAccess(uint64_t pool, const void *descriptors, size_t count)',
  cuMemAllocAsync: 'int cuMemAllocAsync(_Out_ uint64_t *pointer, size_t bytes, uint64_t stream)',
  cuMemFreeAsync: 'int cuMemFreeAsync(uint64_t pointer, uint64_t stream)',
  cuMemGetInfo: 'int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)',
  cuMemcpyHtoDAsync: 'int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t bytes, uint64_t stream)',
  cuMemcpyDtoHAsync: 'int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, uint64_t stream)',
  cuMemcpyDtoDAsync: 'int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, uint64_t stream)',
  cuMemsetD8Async: 'int cuMemsetD8Async(uint64_t dst, unsigned char value, size_t count, uint64_t stream)',
  cuMemsetD32Async: 'int cuMemsetD32Async(uint64_t dst, unsigned int value, size_t count, uint64_t stream)',
  cuModuleLoadData: 'int cuModuleLoadData(_Out_ uint64_t *module, const void *image)',
  cuModuleUnload: 'int cuModuleUnload(uint64_t module)',
  cuModuleGetFunction: 'int cuModuleGetFunction(_Out_ uint64_t *fn, uint64_t module, const char *name)',
  cuFuncSetAttribute: 'int cuFuncSetAttribute(uint64_t fn, int attribute, int value)',
  cuLaunchKernel:
    'int cuLaunchKernel(uint64_t fn, unsigned int gridX, unsigned int gridY, unsigned int gridZ, ' +
    'unsigned int blockX, unsigned int blockY, unsigned int blockZ, unsigned int sharedMemBytes, ' +
    'uint64_t stream, void **kernelParams, void **extra)',
  // The map pointer goes as an integer: the address of koffi-allocated, aligned memory (a pointer and
  // a uint64_t travel alike on every 64-bit ABI CUDA supports).
  cuTensorMapEncodeTiled:
    'int cuTensorMapEncodeTiled(uint64_t tensorMap, int dataType, unsigned int rank, uint64_t globalAddress, ' +
    'const void *globalDim, const void *globalStrides, const void *boxDim, const void *elementStrides, ' +
    'int interleave, int swizzle, int l2Promotion, int oobFill)',
};

/** Functions newer than the oldest driver flash-attn runs on: left undefined where libcuda lacks them. */
const OPTIONAL_PROTOTYPES: Record<OptionalCalls, string> = {
  cuLaunchKernelEx: 'int cuLaunchKernelEx(const void *config, uint64_t fn, void **kernelParams, void **extra)',
};

/** Where the driver library is looked up; FLASH_ATTN_LIBCUDA overrides it (an unusual install). */
export function driverLibraryName(): string {
  return envSetting('FLASH_ATTN_LIBCUDA') ?? (process.platform === 'win32' ? 'nvcuda.dll' : 'libcuda.so.1');
}

/** Opens libcuda and declares every function; throws whatever koffi throws when it is missing. */
export function loadDriver(): CudaDriver {
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const library = koffi.load(driverLibraryName());
  const driver: Record<string, unknown> = {};
  for (const [name, prototype] of Object.entries(PROTOTYPES)) {
    driver[name] = library.func(prototype);
  }
  for (const [name, prototype] of Object.entries(OPTIONAL_PROTOTYPES)) {
    try {
      driver[name] = library.func(prototype);
    } catch (error) {
      // An older driver lacks the symbol (callers check for the function); any other failure is ours to see.
      if (!(error instanceof Error && error.message.startsWith(`Cannot find function '${name}'`))) throw error;
    }
  }
  driver.kernelParams = kernelParamsBuilder(koffi);
  const slot = new KoffiTensorMapSlot(koffi);
  driver.tensorMapSlot = () => slot;
  driver.launchConfig = launchConfigBuilder(koffi);
  return driver as unknown as CudaDriver;
}

/**
 * cuLaunchKernel reads `kernelParams[0]`, a pointer to the struct: both live in memory koffi allocated
 * once (stable addresses, unlike JS buffers, which the garbage collector may move).
 */
function kernelParamsBuilder(koffi: Koffi): (bytes: Uint8Array) => KernelParams {
  let capacity = 0;
  let block: unknown;
  let view = new Uint8Array(0);
  const pointerArray: unknown = koffi.alloc('void *', 1);
  return (bytes) => {
    if (bytes.length > capacity) {
      if (block !== undefined) koffi.free(block);
      capacity = Math.max(256, bytes.length);
      block = koffi.alloc('uint8_t', capacity);
      view = new Uint8Array(koffi.view(block, capacity));
      koffi.encode(pointerArray, 'void *', block);
    }
    view.set(bytes);
    return pointerArray as KernelParams;
  };
}

/**
 * One CUlaunchConfig and its one CUlaunchAttribute (right after it, at the config's size rounded up to 8; the
 * config holds the attribute's address), in memory koffi allocated once per driver and rewritten for each launch.
 */
function launchConfigBuilder(koffi: Koffi): (shape: LaunchShape) => LaunchConfig {
  const attributeAt = Math.ceil(CU_LAUNCH_CONFIG_LAYOUT.bytes / 8) * 8;
  const bytes = attributeAt + CU_LAUNCH_ATTRIBUTE_BYTES;
  const block: unknown = koffi.alloc('uint8_t', bytes);
  const memory = koffi.view(block, bytes);
  new Uint8Array(memory).fill(0);  // the padding and the value union's unused bytes
  const view = new DataView(memory);
  view.setBigUint64(CU_LAUNCH_CONFIG_LAYOUT.attrs, koffi.address(block) + BigInt(attributeAt), true);
  view.setUint32(CU_LAUNCH_CONFIG_LAYOUT.numAttrs, 1, true);
  view.setUint32(attributeAt, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, true);
  view.setInt32(attributeAt + CU_LAUNCH_ATTRIBUTE_VALUE_OFFSET, 1, true);
  return ({ grid, threads, sharedBytes, stream }) => {
    [grid[0], grid[1], grid[2], threads, 1, 1, sharedBytes].forEach((x, i) => view.setUint32(4 * i, x, true));
    view.setBigUint64(CU_LAUNCH_CONFIG_LAYOUT.stream, stream, true);
    return block as LaunchConfig;
  };
}

/** Allocated once per driver (never freed) with room to align the map up to CU_TENSOR_MAP_ALIGNMENT. */
class KoffiTensorMapSlot implements TensorMapSlot {
  readonly address: bigint;
  /** The allocation itself, referenced for as long as the slot is, like kernelParams' block. */
  readonly #block: unknown;
  readonly #map: Uint8Array;

  constructor(koffi: Koffi) {
    const bytes = CU_TENSOR_MAP_BYTES + CU_TENSOR_MAP_ALIGNMENT;
    this.#block = koffi.alloc('uint8_t', bytes);
    const start = koffi.address(this.#block);
    const skip = Number(-start & BigInt(CU_TENSOR_MAP_ALIGNMENT - 1));
    this.address = start + BigInt(skip);
    this.#map = new Uint8Array(koffi.view(this.#block, bytes), skip, CU_TENSOR_MAP_BYTES);
  }

  read(): Uint8Array {
    return this.#map.slice();
  }
}
