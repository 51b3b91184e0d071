/**
 * A fake CUDA driver in host memory, so the runtime, the storage and the backend wiring are tested
 * without a GPU. Work runs at once (the stream is always idle). Kernels are emulated by JS functions
 * registered per symbol, reading and writing the fake device memory through the FlashParams bytes.
 */
import type { CUresult, CudaDriver, HostBuffer, KernelParams, LaunchConfig, LaunchShape, Out, Raw64, TensorMapSlot } from '../../src/backend/cuda/driver.js';

const ERRORS: Record<number, [string, string]> = {
  1: ['CUDA_ERROR_INVALID_VALUE', 'invalid argument'],
  2: ['CUDA_ERROR_OUT_OF_MEMORY', 'out of memory'],
  100: ['CUDA_ERROR_NO_DEVICE', 'no CUDA-capable device is detected'],
  500: ['CUDA_ERROR_NOT_FOUND', 'named symbol not found'],
  700: ['CUDA_ERROR_ILLEGAL_ADDRESS', 'an illegal memory access was encountered'],
};

export interface Launch {
  symbol: string;
  grid: [number, number, number];
  threads: number;
  sharedBytes: number;
  params: Uint8Array;
  /** Launched by cuLaunchKernelEx with programmatic stream serialization allowed (its only use). */
  overlapPrevious: boolean;
}

/** Emulates a kernel: gets the params bytes and the fake memory. */
export type FakeKernel = (params: DataView, memory: FakeMemory) => void;

export class FakeMemory {
  readonly #blocks = new Map<bigint, Uint8Array>();
  #next = 0x7f00_0000_0000n;
  /** The size in bytes of every allocation so far, in order. */
  readonly allocatedBytes: number[] = [];

  /** fill: every byte of a new allocation (0xff: float32 NaNs, as a workspace nothing cleared may hold). */
  constructor(readonly fill = 0) {}

  allocate(bytes: number): bigint {
    this.allocatedBytes.push(bytes);
    const address = this.#next;
    this.#next += BigInt(Math.ceil((bytes + 1) / 256) * 256);
    this.#blocks.set(address, new Uint8Array(bytes).fill(this.fill));
    return address;
  }

  free(address: bigint): boolean {
    return this.#blocks.delete(address);
  }

  get usedBytes(): number {
    let total = 0;
    for (const block of this.#blocks.values()) total += block.length;
    return total;
  }

  get liveAllocations(): number {
    return this.#blocks.size;
  }

  /** `bytes` bytes at `address`, which must lie inside one allocation (else an illegal address). */
  view(address: bigint, bytes: number): Uint8Array {
    for (const [base, block] of this.#blocks) {
      if (address >= base && address + BigInt(bytes) <= base + BigInt(block.length)) {
        const offset = Number(address - base);
        return block.subarray(offset, offset + bytes);
      }
    }
    throw new Error(`fake driver: illegal address 0x${address.toString(16)} (+${bytes} bytes)`);
  }
}

export interface FakeOptions {
  devices?: number;
  sharedMemoryPerBlockOptin?: number;
  /** Default 9.0, an H100. */
  computeCapability?: readonly [number, number];
  /** Per ordinal, where a device's differs from computeCapability. */
  computeCapabilities?: Readonly<Record<number, readonly [number, number]>>;
  kernels?: Record<string, FakeKernel>;
  /** Default true; false: a driver without cuLaunchKernelEx (before CUDA 12.0). */
  launchKernelEx?: boolean;
  /** Every byte of new allocations; default 0. */
  allocationFill?: number;
}

/** What the fake cuTensorMapEncodeTiled received, written into the map's 128 bytes (a real map is opaque). */
export interface FakeTensorMap {
  globalAddress: bigint;
  globalDim: bigint[];
  globalStrides: bigint[];
  boxDim: number[];
  elementStrides: number[];
  /** [dataType, rank, interleave, swizzle, l2Promotion, oobFill] */
  settings: number[];
}

const FAKE_MAP_BYTES = 128;

export function decodeFakeTensorMap(bytes: Uint8Array): FakeTensorMap {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = (at: number, count: number) => Array.from({ length: count }, (_, i) => view.getBigUint64(at + 8 * i, true));
  const ints = (at: number, count: number) => Array.from({ length: count }, (_, i) => view.getUint32(at + 4 * i, true));
  return {
    globalAddress: view.getBigUint64(0, true),
    globalDim: words(8, 4),
    globalStrides: words(40, 3),
    boxDim: ints(64, 4),
    elementStrides: ints(80, 4),
    settings: ints(96, 6),
  };
}

export class FakeDriver implements CudaDriver {
  readonly memory: FakeMemory;
  readonly launches: Launch[] = [];
  readonly calls: string[] = [];
  readonly functionAttributes = new Map<string, number>();
  /** Make the named driver function return this CUresult instead of succeeding. */
  readonly failures = new Map<string, CUresult>();
  /** Failures that start later: after this many more successful calls, the entry moves into `failures`. */
  readonly #failuresLater = new Map<string, { successes: number; result: CUresult }>();
  readonly freedForeign: bigint[] = [];
  contextsRetained = 0;
  contextsReleased = 0;
  /** The address each cuTensorMapEncodeTiled call was asked to write to. */
  readonly tensorMapTargets: bigint[] = [];
  readonly #devices: number;
  readonly #smem: number;
  readonly #computeCapability: readonly [number, number];
  readonly #computeCapabilities: Readonly<Record<number, readonly [number, number]>>;
  readonly #slot = { address: 0x5000_0040n, bytes: new Uint8Array(FAKE_MAP_BYTES) };
  readonly #kernels: Record<string, FakeKernel>;
  readonly #functions = new Map<bigint, string>();
  #nextHandle = 0x1000n;
  #params = new Uint8Array(0);
  readonly cuLaunchKernelEx?: (config: LaunchConfig, fn: bigint, kernelParams: KernelParams, extra: null) => CUresult;

  constructor(options: FakeOptions = {}) {
    this.memory = new FakeMemory(options.allocationFill);
    this.#devices = options.devices ?? 1;
    this.#smem = options.sharedMemoryPerBlockOptin ?? 227 * 1024;
    this.#computeCapability = options.computeCapability ?? [9, 0];
    this.#computeCapabilities = options.computeCapabilities ?? {};
    this.#kernels = options.kernels ?? {};
    if (options.launchKernelEx !== false) {
      this.cuLaunchKernelEx = (config, fn, kernelParams) => {
        const result = this.#call('cuLaunchKernelEx');
        if (result !== 0) return result;
        const shape = config as unknown as LaunchShape;
        return this.#launch(fn, shape.grid, shape.threads, shape.sharedBytes, kernelParams, true);
      };
    }
  }

  #handle(): bigint {
    this.#nextHandle += 16n;
    return this.#nextHandle;
  }

  #call(name: string): CUresult {
    this.calls.push(name);
    const later = this.#failuresLater.get(name);
    if (later && later.successes-- === 0) {
      this.#failuresLater.delete(name);
      this.failures.set(name, later.result);
    }
    return this.failures.get(name) ?? 0;
  }

  /** Lets `successes` more calls of the named function succeed, then fails it as `failures.set(name, result)` would. */
  failAfter(name: string, successes: number, result: CUresult): void {
    this.#failuresLater.set(name, { successes, result });
  }

  cuInit(): CUresult {
    return this.#call('cuInit');
  }
  cuDriverGetVersion(version: Out<number>): CUresult {
    version[0] = 13000;
    return this.#call('cuDriverGetVersion');
  }
  cuGetErrorName(error: CUresult, name: Out<string | null>): CUresult {
    if (!ERRORS[error]) return 1;
    name[0] = ERRORS[error][0];
    return 0;
  }
  cuGetErrorString(error: CUresult, description: Out<string | null>): CUresult {
    if (!ERRORS[error]) return 1;
    description[0] = ERRORS[error][1];
    return 0;
  }
  cuDeviceGetCount(count: Out<number>): CUresult {
    count[0] = this.#devices;
    return this.#call('cuDeviceGetCount');
  }
  cuDeviceGet(device: Out<number>, ordinal: number): CUresult {
    device[0] = ordinal;
    return this.#call('cuDeviceGet');
  }
  cuDeviceGetName(name: Uint8Array, length: number, device: number): CUresult {
    const text = new TextEncoder().encode(`Fake GPU ${device}\0`);
    name.set(text.subarray(0, length));
    return this.#call('cuDeviceGetName');
  }
  cuDeviceGetAttribute(value: Out<number>, attribute: number, device: number): CUresult {
    const [major, minor] = this.#computeCapabilities[device] ?? this.#computeCapability;
    const values: Record<number, number> = { 16: 132, 75: major, 76: minor, 97: this.#smem, 115: 1 };
    value[0] = values[attribute] ?? 0;
    return this.#call('cuDeviceGetAttribute');
  }
  cuDevicePrimaryCtxRetain(context: Out<Raw64>): CUresult {
    this.contextsRetained++;
    context[0] = this.#handle();
    return this.#call('cuDevicePrimaryCtxRetain');
  }
  cuDevicePrimaryCtxRelease(): CUresult {
    this.contextsReleased++;
    return this.#call('cuDevicePrimaryCtxRelease');
  }
  cuCtxSetCurrent(): CUresult {
    return this.failures.get('cuCtxSetCurrent') ?? 0;
  }
  cuStreamCreate(stream: Out<Raw64>): CUresult {
    stream[0] = this.#handle();
    return this.#call('cuStreamCreate');
  }
  cuStreamDestroy(): CUresult {
    return this.#call('cuStreamDestroy');
  }
  cuStreamSynchronize(): CUresult {
    return this.#call('cuStreamSynchronize');
  }
  cuEventCreate(event: Out<Raw64>): CUresult {
    event[0] = this.#handle();
    return this.#call('cuEventCreate');
  }
  cuEventDestroy(): CUresult {
    return this.#call('cuEventDestroy');
  }
  cuEventRecord(): CUresult {
    return this.#call('cuEventRecord');
  }
  cuEventQuery(): CUresult {
    return this.#call('cuEventQuery');
  }
  cuStreamWaitEvent(): CUresult {
    return this.#call('cuStreamWaitEvent');
  }
  cuEventSynchronize(): CUresult {
    return this.#call('cuEventSynchronize');
  }
  cuEventElapsedTime(milliseconds: Out<number>): CUresult {
    milliseconds[0] = 0.5;
    return this.#call('cuEventElapsedTime');
  }
  cuDeviceGetDefaultMemPool(pool: Out<Raw64>): CUresult {
    pool[0] = this.#handle();
    return this.#call('cuDeviceGetDefaultMemPool');
  }
  cuMemPoolSetAttribute(): CUresult {
    return this.#call('cuMemPoolSetAttribute');
  }
  cuDeviceCanAccessPeer(canAccess: Out<number>): CUresult {
    canAccess[0] = 1;
    return this.#call('cuDeviceCanAccessPeer');
  }
  cuMemPoolSetAccess(): CUresult {
    return this.#call('cuMemPoolSetAccess');
  }
  cuMemPoolGetAttribute(_pool: bigint, attribute: number, value: Out<Raw64>): CUresult {
    value[0] = attribute === 7 ? this.memory.usedBytes : 0;
    return this.#call('cuMemPoolGetAttribute');
  }
  cuMemAllocAsync(pointer: Out<Raw64>, bytes: number): CUresult {
    const result = this.#call('cuMemAllocAsync');
    if (result === 0) pointer[0] = this.memory.allocate(bytes);
    return result;
  }
  cuMemFreeAsync(pointer: bigint): CUresult {
    // A free that fails frees nothing.
    const result = this.#call('cuMemFreeAsync');
    if (result === 0 && !this.memory.free(pointer)) this.freedForeign.push(pointer);
    return result;
  }
  cuMemGetInfo(free: Out<Raw64>, total: Out<Raw64>): CUresult {
    free[0] = 80e9 - this.memory.usedBytes;
    total[0] = 80e9;
    return this.#call('cuMemGetInfo');
  }
  cuMemcpyHtoDAsync(dst: bigint, src: HostBuffer, bytes: number): CUresult {
    this.memory.view(dst, bytes).set(new Uint8Array(src.buffer, src.byteOffset, bytes));
    return this.#call('cuMemcpyHtoDAsync');
  }
  cuMemcpyDtoHAsync(dst: HostBuffer, src: bigint, bytes: number): CUresult {
    new Uint8Array(dst.buffer, dst.byteOffset, bytes).set(this.memory.view(src, bytes));
    return this.#call('cuMemcpyDtoHAsync');
  }
  cuMemcpyDtoDAsync(dst: bigint, src: bigint, bytes: number): CUresult {
    this.memory.view(dst, bytes).set(this.memory.view(src, bytes));
    return this.#call('cuMemcpyDtoDAsync');
  }
  cuMemsetD8Async(dst: bigint, value: number, count: number): CUresult {
    this.memory.view(dst, count).fill(value);
    return this.#call('cuMemsetD8Async');
  }
  cuMemsetD32Async(dst: bigint, value: number, count: number): CUresult {
    const bytes = this.memory.view(dst, count * 4);
    const words = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) words.setUint32(4 * i, value, true);
    return this.#call('cuMemsetD32Async');
  }
  cuModuleLoadData(module: Out<Raw64>): CUresult {
    module[0] = this.#handle();
    return this.#call('cuModuleLoadData');
  }
  cuModuleUnload(): CUresult {
    return this.#call('cuModuleUnload');
  }
  cuModuleGetFunction(fn: Out<Raw64>, _module: bigint, name: string): CUresult {
    const result = this.#call('cuModuleGetFunction');
    if (result !== 0) return result;
    if (!(name in this.#kernels)) return 500;
    const handle = this.#handle();
    this.#functions.set(handle, name);
    fn[0] = handle;
    return 0;
  }
  cuFuncSetAttribute(fn: bigint, attribute: number, value: number): CUresult {
    this.functionAttributes.set(`${this.#functions.get(fn)}:${attribute}`, value);
    return this.#call('cuFuncSetAttribute');
  }
  cuLaunchKernel(
    fn: bigint,
    gridX: number,
    gridY: number,
    gridZ: number,
    blockX: number,
    _blockY: number,
    _blockZ: number,
    sharedBytes: number,
    _stream: bigint,
    kernelParams: KernelParams,
  ): CUresult {
    const result = this.#call('cuLaunchKernel');
    if (result !== 0) return result;
    return this.#launch(fn, [gridX, gridY, gridZ], blockX, sharedBytes, kernelParams, false);
  }
  #launch(fn: bigint, grid: readonly [number, number, number], threads: number, sharedBytes: number, kernelParams: KernelParams, overlapPrevious: boolean): CUresult {
    const symbol = this.#functions.get(fn) ?? '?';
    const params = (kernelParams as unknown as Uint8Array).slice();
    this.launches.push({ symbol, grid: [grid[0], grid[1], grid[2]], threads, sharedBytes, params, overlapPrevious });
    this.#kernels[symbol]?.(new DataView(params.buffer), this.memory);
    return 0;
  }
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
  ): CUresult {
    this.tensorMapTargets.push(tensorMap);
    const result = this.#call('cuTensorMapEncodeTiled');
    if (result !== 0) return result;
    if (tensorMap !== this.#slot.address) return 1;
    const bytes = this.#slot.bytes.fill(0);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, globalAddress, true);
    globalDim.forEach((x, i) => view.setBigUint64(8 + 8 * i, x, true));
    globalStrides.forEach((x, i) => view.setBigUint64(40 + 8 * i, x, true));
    boxDim.forEach((x, i) => view.setUint32(64 + 4 * i, x, true));
    elementStrides.forEach((x, i) => view.setUint32(80 + 4 * i, x, true));
    [dataType, rank, interleave, swizzle, l2Promotion, oobFill].forEach((x, i) => view.setUint32(96 + 4 * i, x, true));
    return 0;
  }
  tensorMapSlot(): TensorMapSlot {
    return { address: this.#slot.address, read: () => this.#slot.bytes.slice() };
  }
  kernelParams(bytes: Uint8Array): KernelParams {
    this.#params = bytes.slice();
    return this.#params as unknown as KernelParams;
  }
  launchConfig(shape: LaunchShape): LaunchConfig {
    return { ...shape, grid: [...shape.grid] } as unknown as LaunchConfig;
  }
}
