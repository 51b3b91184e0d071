import { backendFor, backendOfDevice } from './backend.js';
import { canonicalDevice, parseDevice } from './device.js';
import { type Dtype, type HostArray, bytesPerElement, decodeArray, encodeArray, isDtype } from './dtype.js';
import { DeviceError, DisposedError, DtypeError, OptionError, ShapeError, SizeLimitError, describe } from './errors.js';
import { checkOptionKeys, optionOr } from './options.js';
import type { Storage } from './storage.js';

export interface TensorOptions {
  dtype?: Dtype;
  device?: string;
}
const TENSOR_OPTION_NAMES = ['dtype', 'device'];

/**
 * An n-dimensional, row-major, contiguous array on one device. Operations never consume their inputs;
 * `dispose()` (or `using`) frees the storage at once.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: Dtype;
  readonly device: string;
  #storage: Storage | undefined;

  /** @internal Wraps a storage the tensor now owns. Use `tensor()` to build one from data. */
  constructor(storage: Storage, shape: readonly number[]) {
    this.shape = Object.freeze([...shape]);
    this.dtype = storage.dtype;
    this.device = storage.device;
    this.#storage = storage;
    // `readonly` binds TypeScript only: a caller's `t.shape = ...` would make every check read a shape the storage
    // does not have. Frozen, such a write throws (the storage, a private field, is not affected).
    Object.freeze(this);
  }

  /**
   * Wraps device memory owned by someone else (another CUDA library), without a copy: `pointer` holds
   * `shape` elements of `dtype`, row-major. dispose() does not free it; the owner must keep it alive and
   * finish writing it (synchronize its stream) before flash-attn reads it.
   */
  static fromDevicePointer(pointer: bigint | number, shape: readonly number[], dtype: Dtype, device: string): Tensor {
    const dims = checkShape(shape);
    const type = checkDtype(dtype);
    const target = checkDevice(device);
    const backend = backendOfDevice(target);
    if (!backend.wrap) {
      throw new DeviceError(`device: ${describe(target)} has no device pointers; fromDevicePointer needs a 'cuda' device`);
    }
    const isAddress = typeof pointer === 'bigint' ? pointer >= 0n && pointer < 2n ** 64n : Number.isSafeInteger(pointer) && pointer >= 0;
    if (!isAddress || (BigInt(pointer) === 0n && elementCount(dims) > 0)) {
      throw new ShapeError(`pointer: expected a non-null 64-bit device address (a bigint or a safe integer), got ${describe(pointer)}`);
    }
    checkCapacity(dims, target);
    // The kernels load whole elements: a misaligned one would be a misaligned-address fault, which breaks the
    // context for every later call, not an error of this one.
    const misalignment = BigInt(pointer) % BigInt(bytesPerElement(type));
    if (misalignment !== 0n) {
      throw new ShapeError(`pointer: expected an address aligned to ${type}'s ${bytesPerElement(type)} bytes, got 0x${BigInt(pointer).toString(16)} (${misalignment} past)`);
    }
    return new Tensor(backend.wrap(BigInt(pointer), type, elementCount(dims), target), dims);
  }

  get size(): number {
    return elementCount(this.shape);
  }

  get isDisposed(): boolean {
    return this.#storage === undefined;
  }

  /** @internal The storage, for backends; throws if the tensor was disposed. */
  storage(argument = 'tensor'): Storage {
    if (!this.#storage) throw new DisposedError(`${argument}: the tensor was disposed and cannot be used`);
    return this.#storage;
  }

  /** The raw elements: Float32Array for float32, Uint16Array of float16/bfloat16 bits otherwise. */
  async data(): Promise<HostArray> {
    return this.storage().read();
  }

  async toFloat32Array(): Promise<Float32Array> {
    return decodeArray(await this.data(), this.dtype);
  }

  /** A copy on another device (a new tensor even when the device is the same). */
  async to(device: string): Promise<Tensor> {
    const target = checkDevice(device);
    const raw = await this.data();
    return new Tensor(backendOfDevice(target).upload(raw, this.dtype, target), this.shape);
  }

  dispose(): void {
    this.#storage?.dispose();
    this.#storage = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(${describe([...this.shape])}, ${this.dtype}, ${this.device})`;
  }
}

export function elementCount(shape: readonly number[]): number {
  // A zero first: the product of the other dimensions may be Infinity, and Infinity * 0 is NaN.
  return shape.includes(0) ? 0 : shape.reduce((a, b) => a * b, 1);
}

/** Checks a `shape` argument: an array of non-negative safe integers (beyond 2^53 - 1 a count is not exact). */
export function checkShape(shape: unknown): number[] {
  // Spread first: every() skips the holes of a sparse array ([2, , 4]), which would pass as a dimension `undefined`.
  if (!Array.isArray(shape) || ![...shape].every((s) => Number.isSafeInteger(s) && s >= 0)) {
    throw new ShapeError(`shape: expected an array of non-negative integers up to 2^53 - 1, got ${describe(shape)}`);
  }
  return shape;
}

function checkDtype(dtype: unknown): Dtype {
  if (!isDtype(dtype)) {
    throw new DtypeError(`dtype: expected 'float32', 'float16' or 'bfloat16', got ${describe(dtype)}`);
  }
  return dtype;
}

/** Validates a device name and that the device exists; returns its canonical name. */
export function checkDevice(device: unknown, argument = 'device'): string {
  const id = parseDevice(device, argument);
  const count = backendFor(id.kind).deviceCount();
  if (id.index >= count) {
    throw new DeviceError(`${argument}: ${describe(device)} does not exist; this machine has ${count} ${id.kind} device(s)`);
  }
  return canonicalDevice(device, argument);
}

/**
 * Checks that a tensor of shape `dims` fits the backend of `device`, before its data is made: beyond the limit the
 * host array alone would be a RangeError, or gigabytes allocated before the upload refuses them.
 */
function checkCapacity(dims: readonly number[], device: string): void {
  const backend = backendOfDevice(device);
  const count = elementCount(dims);
  if (count > backend.maxElements) {
    throw new SizeLimitError(`shape: ${describe([...dims])} holds ${count} elements, beyond the ${backend.kind} backend's limit of ${backend.maxElements}`);
  }
}

function uploadChecked(raw: HostArray, shape: number[], dtype: Dtype, device: string): Tensor {
  // Any dtype may be stored on any backend, as to() and the float32 lse of every call already do; whether attention
  // runs in it is the front door's question (params.ts).
  return new Tensor(backendOfDevice(device).upload(raw, dtype, device), shape);
}

/**
 * Builds a tensor from host data. A Float32Array or number[] is rounded to `dtype` (float32 by default);
 * a Uint16Array is taken as raw float16/bfloat16 bits (dtype must then be one of those, float16 by default).
 */
export function tensor(
  data: Float32Array | Uint16Array | readonly number[],
  shape: readonly number[],
  options: TensorOptions = {},
): Tensor {
  const dims = checkShape(shape);
  checkOptionKeys(options, TENSOR_OPTION_NAMES);
  const isBits = data instanceof Uint16Array;
  const { dtype, device } = checkPlacement(dims, options, isBits ? 'float16' : 'float32');
  if (!isBits && !(data instanceof Float32Array) && !Array.isArray(data)) {
    throw new ShapeError(`data: expected a Float32Array, Uint16Array or number[], got ${describe(data)}`);
  }
  const expected = elementCount(dims);
  if (data.length !== expected) {
    throw new ShapeError(`data: expected ${expected} elements for shape ${describe(dims)}, got ${data.length}`);
  }
  if (Array.isArray(data)) {
    const bad = data.findIndex((x) => typeof x !== 'number');
    if (bad >= 0) throw new ShapeError(`data: expected numbers, got ${describe(data[bad])} at index ${bad}`);
  }
  if (isBits && dtype === 'float32') {
    throw new DtypeError(`data: a Uint16Array holds float16 or bfloat16 bits, but dtype is 'float32'`);
  }
  const raw = isBits ? (data as Uint16Array).slice() : encodeArray(data as ArrayLike<number>, dtype);
  return uploadChecked(raw, dims, dtype, device);
}

/**
 * The dtype and device of a new tensor of shape `dims` (null is refused, not taken for the default), checked to fit
 * the device's backend: tensor, randn and zeros call it before they make any data.
 */
function checkPlacement(dims: readonly number[], options: TensorOptions, defaultDtype: Dtype): { dtype: Dtype; device: string } {
  const dtype = checkDtype(optionOr(options.dtype, defaultDtype));
  const device = checkDevice(optionOr(options.device, 'cpu'));
  checkCapacity(dims, device);
  return { dtype, device };
}

export interface RandomOptions extends TensorOptions {
  seed?: number;
  /** Standard deviation of the normal distribution (default 1). */
  scale?: number;
}
const RANDOM_OPTION_NAMES = [...TENSOR_OPTION_NAMES, 'seed', 'scale'];
const MAX_SEED = 2 ** 32 - 1;

/** A small, fast, seeded generator (mulberry32): reproducible across machines. */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller over the seeded uniform generator). */
export function normalSamples(count: number, seed: number, scale = 1): Float32Array {
  const uniform = seededUniform(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = 1 - uniform();
    const radius = scale * Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

export function randn(shape: readonly number[], options: RandomOptions = {}): Tensor {
  const dims = checkShape(shape);
  checkOptionKeys(options, RANDOM_OPTION_NAMES);
  const { seed = 0, scale = 1, ...placement } = options;
  if (!Number.isInteger(seed)) throw new OptionError(`seed: expected an integer, got ${describe(seed)}`);
  // The generator keeps 32 bits of state (seed >>> 0): a seed outside them would repeat another one's samples.
  if (seed < 0 || seed > MAX_SEED) {
    throw new OptionError(`seed: expected an integer in 0..${MAX_SEED} (32 bits), got ${describe(seed)}`);
  }
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale < 0) {
    throw new OptionError(`scale: expected a finite number >= 0, got ${describe(scale)}`);
  }
  const { dtype, device } = checkPlacement(dims, placement, 'float32');
  return uploadChecked(encodeArray(normalSamples(elementCount(dims), seed, scale), dtype), dims, dtype, device);
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  const dims = checkShape(shape);
  checkOptionKeys(options, TENSOR_OPTION_NAMES);
  const { dtype, device } = checkPlacement(dims, options, 'float32');
  return uploadChecked(encodeArray(new Float32Array(elementCount(dims)), dtype), dims, dtype, device);
}

/** @internal Checks that a value is a live tensor, naming the argument otherwise. */
export function checkTensor(value: unknown, argument: string): Tensor {
  if (!(value instanceof Tensor)) {
    throw new ShapeError(`${argument}: expected a Tensor, got ${describe(value)}`);
  }
  if (value.isDisposed) throw new DisposedError(`${argument}: the tensor was disposed and cannot be used`);
  return value;
}
