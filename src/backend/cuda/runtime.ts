/**
 * Checked wrappers over the raw driver: every call goes through `check()`, which turns a failure into a
 * CudaError carrying the driver's own name and description. One primary context and one stream per
 * device; device memory comes from the device's default memory pool in stream order.
 */
import { BackendUnavailableError, DeviceError, FlashAttentionError, OptionError, describe } from '../../errors.js';
import { disposals, releaseAfterError, releaseAll, thenRelease, thenReleaseAsync } from '../../release.js';
import {
  CUDA_ERROR_NOT_READY,
  CUDA_SUCCESS,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
  CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
  CU_EVENT_DISABLE_TIMING,
  CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
  CU_MEMPOOL_ATTR_USED_MEM_CURRENT,
  CU_STREAM_DEFAULT,
  CU_TENSOR_MAP_DATA_TYPE_FLOAT32,
  CU_TENSOR_MAP_DATA_TYPE_UINT16,
  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
  CU_TENSOR_MAP_INTERLEAVE_NONE,
  CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
  CU_TENSOR_MAP_SWIZZLE_128B,
  type CUcontext,
  type CUdevice,
  type CUdeviceptr,
  type CUevent,
  type CUfunction,
  type CUmemoryPool,
  type CUresult,
  type CUstream,
  type CudaDriver,
  type Handle,
  type HostBuffer,
  type Raw64,
  driverLibraryName,
  loadDriver,
} from './driver.js';
import { CudaError } from './errors.js';
import { deviceRefusal, readDeviceFacts } from './requirements.js';
import { TensorMapCache } from './tensor-map-cache.js';
import type { TensorMapGeometry } from './tma.js';

/** CUmemLocationType and CUmemAccess_flags values of a CUmemAccessDesc. */
const CU_MEM_LOCATION_TYPE_DEVICE = 1;
const CU_MEM_ACCESS_FLAGS_PROT_READWRITE = 3;

/** Keep every byte the pool has reserved: repeated calls then never go back to the OS allocator. */
const KEEP_ALL_MEMORY = 0xffff_ffff_ffff_ffffn;

export function asHandle<H extends Handle<string>>(raw: Raw64): H {
  return BigInt(raw) as H;
}

export class CudaRuntime {
  readonly #devices = new Map<number, CudaDevice>();
  #count: number | undefined;

  constructor(readonly driver: CudaDriver) {}

  /** Throws CudaError for anything but CUDA_SUCCESS. */
  check(result: CUresult, call: string): void {
    if (result === CUDA_SUCCESS) return;
    const { name, description } = this.describeResult(result);
    throw new CudaError(call, result, name, description);
  }

  /** The driver's name and description of a CUresult (a fallback when the driver does not know it). */
  describeResult(result: CUresult): { name: string; description: string } {
    const name: [string | null] = [null];
    const description: [string | null] = [null];
    const nameOk = this.driver.cuGetErrorName(result, name) === CUDA_SUCCESS && name[0] !== null;
    const descriptionOk = this.driver.cuGetErrorString(result, description) === CUDA_SUCCESS && description[0] !== null;
    return {
      name: nameOk ? (name[0] as string) : `CUresult ${result}`,
      description: descriptionOk ? (description[0] as string) : 'no description from the driver',
    };
  }

  deviceCount(): number {
    if (this.#count === undefined) {
      const count: [number] = [0];
      this.check(this.driver.cuDeviceGetCount(count), 'cuDeviceGetCount');
      this.#count = count[0];
    }
    return this.#count;
  }

  /**
   * Why device `ordinal` (one of deviceCount()) cannot run flash-attn, or undefined where it can; asked of the device
   * without setting it up (no context), so that devices() can leave it out. A failing driver call throws its CudaError.
   */
  refusal(ordinal: number): string | undefined {
    if (this.#devices.has(ordinal)) return undefined;
    const handle: [number] = [0];
    this.check(this.driver.cuDeviceGet(handle, ordinal), 'cuDeviceGet');
    return deviceRefusal(ordinal, readDeviceFacts(this.driver, handle[0] as CUdevice, (result, call) => this.check(result, call)));
  }

  /** The device with this ordinal, set up on first use. */
  device(ordinal: number): CudaDevice {
    let device = this.#devices.get(ordinal);
    if (!device) {
      const count = this.deviceCount();
      if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal >= count) {
        throw new DeviceError(`device: 'cuda:${ordinal}' does not exist; this machine has ${count} cuda device(s)`);
      }
      device = new CudaDevice(this, ordinal);
      const others = [...this.#devices.values()];
      this.#devices.set(ordinal, device);
      // Copies between GPUs (ring attention, Tensor.to) read one device's pool from the other's stream. A pair
      // the driver will not open stays closed: its copies fail, the rest of both GPUs' work does not.
      for (const other of others) {
        for (const [owner, peer] of [[device, other], [other, device]] as const) {
          try {
            owner.allowAccessFrom(peer);
          } catch (error) {
            process.emitWarning(`flash-attn: ${peer.label} cannot reach ${owner.label}'s memory pool (${(error as Error).message}); copies between them will fail`, {
              type: 'PeerAccessWarning',
            });
          }
        }
      }
    }
    return device;
  }

  dispose(): void {
    const devices = [...this.#devices.values()];
    this.#devices.clear();
    releaseAll(disposals(devices));
  }
}

/** One GPU: its primary context, its stream, its memory pool and what the kernels need to know of it. */
export class CudaDevice {
  readonly name: string;
  readonly computeCapability: readonly [number, number];
  readonly multiprocessorCount: number;
  /** Largest dynamic shared memory a block may opt in to, in bytes. */
  readonly sharedMemoryPerBlockOptin: number;
  readonly #handle: CUdevice;
  readonly #context: CUcontext;
  readonly #stream: CUstream;
  readonly #pool: CUmemoryPool;
  #transferStream: CUstream | undefined;
  readonly #canOverlapLaunches: boolean;
  readonly #disposers: (() => void)[] = [];
  #disposed = false;
  readonly #tensorMaps = new TensorMapCache();

  constructor(
    readonly runtime: CudaRuntime,
    readonly ordinal: number,
  ) {
    const driver = runtime.driver;
    const handle: [number] = [0];
    this.check(driver.cuDeviceGet(handle, ordinal), 'cuDeviceGet');
    this.#handle = handle[0] as CUdevice;
    // Refused before a context exists: the facts need none.
    const facts = readDeviceFacts(driver, this.#handle, (result, call) => this.check(result, call));
    const refusal = deviceRefusal(ordinal, facts);
    if (refusal !== undefined) throw new BackendUnavailableError(refusal);
    const context: [Raw64] = [0];
    this.check(driver.cuDevicePrimaryCtxRetain(context, this.#handle), 'cuDevicePrimaryCtxRetain');
    this.#context = asHandle<CUcontext>(context[0]);
    const stream: [Raw64] = [0];
    try {
      this.makeCurrent();
      this.check(driver.cuStreamCreate(stream, CU_STREAM_DEFAULT), 'cuStreamCreate');
      this.#stream = asHandle<CUstream>(stream[0]);
      ({ name: this.name, computeCapability: this.computeCapability } = facts);
      ({ multiprocessorCount: this.multiprocessorCount, sharedMemoryPerBlockOptin: this.sharedMemoryPerBlockOptin, pool: this.#pool } = this.#poolAndLimits());
      this.#canOverlapLaunches = driver.cuLaunchKernelEx !== undefined && this.computeCapability[0] >= 9 &&
        overlapLaunchesAllowed(process.env.FLASH_ATTN_PDL);
    } catch (error) {
      // A device we cannot use must not keep the context (and stream) it retained: release before rethrowing.
      releaseAfterError([
        () => {
          if (stream[0]) this.check(driver.cuStreamDestroy(asHandle<CUstream>(stream[0])), 'cuStreamDestroy');
        },
        () => this.check(driver.cuDevicePrimaryCtxRelease(this.#handle), 'cuDevicePrimaryCtxRelease'),
      ]);
      throw error;
    }
  }

  /** The default memory pool, set to keep what it reserves, and the limits the kernels are chosen by. */
  #poolAndLimits() {
    const driver = this.runtime.driver;
    const poolOut: [Raw64] = [0];
    this.check(driver.cuDeviceGetDefaultMemPool(poolOut, this.#handle), 'cuDeviceGetDefaultMemPool');
    const pool = asHandle<CUmemoryPool>(poolOut[0]);
    this.check(driver.cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, [KEEP_ALL_MEMORY]), 'cuMemPoolSetAttribute');
    return {
      multiprocessorCount: this.attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
      sharedMemoryPerBlockOptin: this.attribute(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
      pool,
    };
  }

  get label(): string {
    return `cuda:${this.ordinal}`;
  }

  get stream(): CUstream {
    return this.#stream;
  }

  check(result: CUresult, call: string): void {
    this.runtime.check(result, call);
  }

  /**
   * Lets `peer` read and write this device's pool allocations (pools ignore cuCtxEnablePeerAccess), where
   * the hardware allows it. Without it a copy between the two GPUs fails with CUDA_ERROR_INVALID_VALUE.
   */
  allowAccessFrom(peer: CudaDevice): boolean {
    const driver = this.runtime.driver;
    const can: [number] = [0];
    this.check(driver.cuDeviceCanAccessPeer(can, peer.#handle, this.#handle), 'cuDeviceCanAccessPeer');
    if (!can[0]) return false;
    const descriptor = Int32Array.of(CU_MEM_LOCATION_TYPE_DEVICE, peer.ordinal, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    this.check(driver.cuMemPoolSetAccess(this.#pool, descriptor, 1), 'cuMemPoolSetAccess');
    return true;
  }

  /** Primary contexts are per device; every public operation starts by making ours current. */
  makeCurrent(): void {
    this.check(this.runtime.driver.cuCtxSetCurrent(this.#context), 'cuCtxSetCurrent');
  }

  attribute(attribute: number): number {
    const value: [number] = [0];
    this.check(this.runtime.driver.cuDeviceGetAttribute(value, attribute, this.#handle), 'cuDeviceGetAttribute');
    return value[0];
  }

  // --- memory (stream-ordered on this device's stream) ---

  /** `bytes` of device memory from the pool, usable by work enqueued after this call. 0 bytes: null. */
  allocate(bytes: number): CUdeviceptr {
    if (bytes === 0) return 0n as CUdeviceptr;
    this.makeCurrent();
    const pointer: [Raw64] = [0];
    this.check(this.runtime.driver.cuMemAllocAsync(pointer, bytes, this.#stream), 'cuMemAllocAsync');
    return asHandle<CUdeviceptr>(pointer[0]);
  }

  /** Returns memory to the pool once the work enqueued so far is done with it. */
  free(pointer: CUdeviceptr): void {
    if (pointer === 0n) return;
    this.makeCurrent();
    this.check(this.runtime.driver.cuMemFreeAsync(pointer, this.#stream), 'cuMemFreeAsync');
  }

  /** Host to device; the host data is staged before the call returns, so it may be reused at once. */
  copyToDevice(dst: CUdeviceptr, src: HostBuffer): void {
    if (src.byteLength === 0) return;
    this.makeCurrent();
    this.check(this.runtime.driver.cuMemcpyHtoDAsync(dst, src, src.byteLength, this.#stream), 'cuMemcpyHtoDAsync');
  }

  /** Device to host, after all enqueued work; returns when `dst` holds the data. */
  copyToHost(dst: HostBuffer, src: CUdeviceptr): void {
    if (dst.byteLength === 0) return;
    this.makeCurrent();
    this.check(this.runtime.driver.cuMemcpyDtoHAsync(dst, src, dst.byteLength, this.#stream), 'cuMemcpyDtoHAsync');
    this.synchronize();
  }

  /** Device to device, in stream order. */
  copyOnDevice(dst: CUdeviceptr, src: CUdeviceptr, bytes: number): void {
    if (bytes === 0) return;
    this.makeCurrent();
    this.check(this.runtime.driver.cuMemcpyDtoDAsync(dst, src, bytes, this.#stream), 'cuMemcpyDtoDAsync');
  }

  fillBytes(dst: CUdeviceptr, value: number, count: number): void {
    if (count === 0) return;
    this.makeCurrent();
    this.check(this.runtime.driver.cuMemsetD8Async(dst, value, count, this.#stream), 'cuMemsetD8Async');
  }

  fillWords(dst: CUdeviceptr, value: number, count: number): void {
    if (count === 0) return;
    this.makeCurrent();
    this.check(this.runtime.driver.cuMemsetD32Async(dst, value, count, this.#stream), 'cuMemsetD32Async');
  }

  /** Bytes of the pool handed out and not yet freed (work still in flight may hold some). */
  memoryInUse(): number {
    const value: [Raw64] = [0];
    this.check(
      this.runtime.driver.cuMemPoolGetAttribute(this.#pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, value),
      'cuMemPoolGetAttribute',
    );
    return Number(value[0]);
  }

  // --- launches, events, waiting ---

  /**
   * The 128 bytes of a CUtensorMap over `address` (16-bit data as UINT16, float32 as FLOAT32; the attention
   * kernels' settings: 128-byte swizzle, 256-byte L2 promotion, zeros outside the tensor); `address` is a device
   * address of this device. Maps encoded lately come from a cache (tensor-map-cache.ts), whose bytes these are: the
   * caller copies them, never changes them.
   */
  encodeTensorMap(map: TensorMapGeometry, address: bigint): Readonly<Uint8Array> {
    const known = this.#tensorMaps.get(map, address);
    if (known !== undefined) return known;
    const driver = this.runtime.driver;
    const slot = driver.tensorMapSlot();
    this.makeCurrent();
    this.check(
      driver.cuTensorMapEncodeTiled(
        slot.address,
        map.elementBytes === 4 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32 : CU_TENSOR_MAP_DATA_TYPE_UINT16,
        map.globalDim.length,
        address,
        BigUint64Array.from(map.globalDim, BigInt),
        BigUint64Array.from(map.globalStrides, BigInt),
        Uint32Array.from(map.boxDim),
        Uint32Array.from(map.elementStrides),
        CU_TENSOR_MAP_INTERLEAVE_NONE,
        CU_TENSOR_MAP_SWIZZLE_128B,
        CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
      ),
      'cuTensorMapEncodeTiled',
    );
    return this.#tensorMaps.adopt(map, address, slot.read());
  }

  /**
   * The maps of one Hopper launch, by name, each over its tensor's address: found per call (they hold the
   * tensors' addresses, which may change from call to call), encoded where the cache has none.
   */
  encodeTensorMaps<M extends string>(
    maps: Readonly<Record<M, TensorMapGeometry>>,
    addresses: Readonly<Record<M, bigint>>,
  ): Record<M, Readonly<Uint8Array>> {
    const encoded = {} as Record<M, Readonly<Uint8Array>>;
    for (const name of Object.keys(maps) as M[]) encoded[name] = this.encodeTensorMap(maps[name], addresses[name]);
    return encoded;
  }

  /**
   * Whether `launch` can let a kernel start while the one before it in the stream runs (programmatic dependent
   * launch): the driver has cuLaunchKernelEx, the card is Hopper or newer, and FLASH_ATTN_PDL is not 0 (read once,
   * when the device is first used).
   */
  get canOverlapLaunches(): boolean {
    return this.#canOverlapLaunches;
  }

  /**
   * Enqueues `fn` with `params` (its one struct parameter). `overlapPrevious`: where canOverlapLaunches, the
   * blocks may start before the kernel before it completes; the kernel must wait for that grid (griddepcontrol.wait)
   * before touching global memory. Elsewhere it is an ordinary launch.
   */
  launch(fn: CUfunction, grid: readonly [number, number, number], threads: number, sharedBytes: number, params: Uint8Array, overlapPrevious = false): void {
    const driver = this.runtime.driver;
    this.makeCurrent();
    if (overlapPrevious && this.#canOverlapLaunches && driver.cuLaunchKernelEx) {
      const config = driver.launchConfig({ grid, threads, sharedBytes, stream: this.#stream });
      this.check(driver.cuLaunchKernelEx(config, fn, driver.kernelParams(params), null), 'cuLaunchKernelEx');
      return;
    }
    this.check(
      driver.cuLaunchKernel(fn, grid[0], grid[1], grid[2], threads, 1, 1, sharedBytes, this.#stream, driver.kernelParams(params), null),
      'cuLaunchKernel',
    );
  }

  createEvent(flags = CU_EVENT_DISABLE_TIMING): CUevent {
    this.makeCurrent();
    const event: [Raw64] = [0];
    this.check(this.runtime.driver.cuEventCreate(event, flags), 'cuEventCreate');
    return asHandle<CUevent>(event[0]);
  }

  destroyEvent(event: CUevent): void {
    this.check(this.runtime.driver.cuEventDestroy(event), 'cuEventDestroy');
  }

  recordEvent(event: CUevent): void {
    this.makeCurrent();
    this.check(this.runtime.driver.cuEventRecord(event, this.#stream), 'cuEventRecord');
  }

  /** Resolves once `event` has completed, polling so the event loop keeps running meanwhile. */
  async whenComplete(event: CUevent): Promise<void> {
    for (let polls = 0; ; polls++) {
      const result = this.runtime.driver.cuEventQuery(event);
      if (result === CUDA_SUCCESS) return;
      if (result !== CUDA_ERROR_NOT_READY) this.check(result, 'cuEventQuery');
      await new Promise<void>((resolve) => (polls < 64 ? setImmediate(resolve) : setTimeout(resolve, 1)));
    }
  }

  /**
   * Resolves once everything enqueued on this device so far has finished. A fault the wait reports is the error that
   * goes on: after it the context is broken and the event's destroy fails too, which would only hide the cause.
   */
  async idle(): Promise<void> {
    const event = this.createEvent();
    await thenReleaseAsync(
      async () => {
        this.recordEvent(event);
        await this.whenComplete(event);
      },
      () => [() => this.destroyEvent(event)],
    );
  }

  /** Blocks the thread until the device's stream is idle. */
  synchronize(): void {
    this.makeCurrent();
    this.check(this.runtime.driver.cuStreamSynchronize(this.#stream), 'cuStreamSynchronize');
  }

  elapsedMilliseconds(start: CUevent, end: CUevent): number {
    const ms: [number] = [0];
    this.check(this.runtime.driver.cuEventElapsedTime(ms, start, end), 'cuEventElapsedTime');
    return ms[0];
  }

  /** A second stream for transfers between devices (ring attention), created on first use. */
  get transferStream(): CUstream {
    if (this.#transferStream === undefined) {
      this.makeCurrent();
      const stream: [Raw64] = [0];
      this.check(this.runtime.driver.cuStreamCreate(stream, CU_STREAM_DEFAULT), 'cuStreamCreate');
      this.#transferStream = asHandle<CUstream>(stream[0]);
    }
    return this.#transferStream;
  }

  /** Later work on `waiting` starts only after the work enqueued on `signalling` so far (no host wait). */
  order(waiting: CUstream, signalling: CUstream): void {
    const event = this.createEvent();
    // Destroying a recorded event is safe: the wait already captured it. A failing record or wait is the error reported.
    thenRelease(
      () => {
        this.check(this.runtime.driver.cuEventRecord(event, signalling), 'cuEventRecord');
        this.check(this.runtime.driver.cuStreamWaitEvent(waiting, event, 0), 'cuStreamWaitEvent');
      },
      () => [() => this.destroyEvent(event)],
    );
  }

  /** Registers cleanup for something owned by this device (loaded modules), run by dispose(). */
  onDispose(disposer: () => void): void {
    this.#disposers.push(disposer);
  }

  /** Releases everything the device holds, each step even after one fails (then throws the first error). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const driver = this.runtime.driver;
    const transferStream = this.#transferStream;
    releaseAll([
      () => this.makeCurrent(),
      () => this.synchronize(),
      ...this.#disposers.splice(0).reverse(),
      () => {
        if (transferStream !== undefined) this.check(driver.cuStreamSynchronize(transferStream), 'cuStreamSynchronize');
      },
      // Destroying a stream with work still queued is allowed: its resources go once that work is done.
      () => {
        if (transferStream !== undefined) this.check(driver.cuStreamDestroy(transferStream), 'cuStreamDestroy');
      },
      () => this.check(driver.cuStreamDestroy(this.#stream), 'cuStreamDestroy'),
      () => this.check(driver.cuDevicePrimaryCtxRelease(this.#handle), 'cuDevicePrimaryCtxRelease'),
    ]);
  }
}

// --- the process-wide runtime, created on first use ---

let state: { runtime: CudaRuntime } | { error: FlashAttentionError } | undefined;
let driverOverride: CudaDriver | undefined;

/**
 * `FLASH_ATTN_PDL`: '0' launches every kernel only once the one before it has completed (to compare, or to rule
 * the overlap out); '1' or unset lets the kernels that wait for their predecessor start early.
 */
export function overlapLaunchesAllowed(setting: string | undefined): boolean {
  if (setting === undefined || setting === '' || setting === '1') return true;
  if (setting === '0') return false;
  throw new OptionError(
    `FLASH_ATTN_PDL: expected '0' (no programmatic dependent launch) or '1' (the default: allowed where the kernels support it), got ${describe(setting)}`,
  );
}

function initialize(): { runtime: CudaRuntime } | { error: FlashAttentionError } {
  let driver: CudaDriver;
  try {
    driver = driverOverride ?? loadDriver();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      error: new BackendUnavailableError(
        `cuda: the NVIDIA driver library (libcuda, looked up as ${describe(driverLibraryName())}) was not found or could not be loaded (${reason}); install the NVIDIA driver to use 'cuda', or use the 'cpu' backend, which is available`,
      ),
    };
  }
  const runtime = new CudaRuntime(driver);
  const result = driver.cuInit(0);
  if (result !== CUDA_SUCCESS) {
    const { name, description } = runtime.describeResult(result);
    return {
      error: new BackendUnavailableError(
        `cuda: the driver was found but cuInit failed with ${name} (${description}); the 'cpu' backend is available`,
      ),
    };
  }
  // Like a failing cuInit, a failing count is kept as the answer: a throw here would leave nothing cached, and every
  // later call would load libcuda again.
  let count: number;
  try {
    count = runtime.deviceCount();
  } catch (error) {
    return {
      error: new BackendUnavailableError(
        `cuda: the driver was found but ${error instanceof Error ? error.message : String(error)}; the 'cpu' backend is available`,
      ),
    };
  }
  if (count === 0) {
    return { error: new BackendUnavailableError(`cuda: the driver reports no CUDA device; the 'cpu' backend is available`) };
  }
  return { runtime };
}

/** The runtime; throws BackendUnavailableError (the same one each time) where CUDA cannot be used. */
export function cudaRuntime(): CudaRuntime {
  state ??= initialize();
  if ('error' in state) throw state.error;
  return state.runtime;
}

/** The device behind a canonical name like `cuda:0`. */
export function cudaDevice(name: string): CudaDevice {
  const match = /^cuda:(\d+)$/.exec(name);
  if (!match) throw new DeviceError(`device: expected a cuda device like 'cuda:0', got ${describe(name)}`);
  return cudaRuntime().device(Number(match[1]));
}

/** @internal Tests only: run the runtime over another driver (a fake); `undefined` restores libcuda. */
export function useDriverForTesting(driver: CudaDriver | undefined): void {
  // Switched first: a dispose that throws (a test's injected failure) must not keep the old runtime in place.
  const previous = state;
  state = undefined;
  driverOverride = driver;
  if (previous && 'runtime' in previous) previous.runtime.dispose();
}
