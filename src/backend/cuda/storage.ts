/**
 * Tensor storage in device memory. Owned storage comes from the device's pool and goes back to it, in
 * stream order, on dispose(); wrapped storage (Tensor.fromDevicePointer) belongs to someone else.
 */
import { type Dtype, type HostArray, bytesPerElement } from '../../dtype.js';
import { DisposedError } from '../../errors.js';
import { disposeOnThrow } from '../../release.js';
import type { Storage } from '../../storage.js';
import type { CUdeviceptr } from './driver.js';
import type { CudaDevice } from './runtime.js';

/** Test-only guard margins: every allocation gets this many bytes of 0xFF (NaN) on each side. */
let guardBytes = 0;

/** An allocation as the pool handed it out: the storage's bytes start `guard` bytes into it. */
interface Allocation {
  device: CudaDevice;
  base: CUdeviceptr;
  guard: number;
}

let warnedAboutLeak = false;

/** Only catches storages dropped without dispose(): frees them and warns once. */
const leaks = new FinalizationRegistry<Allocation>((allocation) => {
  if (!warnedAboutLeak) {
    warnedAboutLeak = true;
    process.emitWarning(
      'flash-attn: a cuda tensor was garbage-collected without dispose(); its device memory was freed late. Call dispose() (or `using`) on tensors you no longer need.',
      'ResourceLeakWarning',
    );
  }
  try {
    allocation.device.free(allocation.base);
  } catch {
    // The context may already be gone (process exit, a sticky device error): nothing left to free.
  }
});

export class CudaStorage implements Storage {
  readonly dtype: Dtype;
  readonly length: number;
  readonly cudaDevice: CudaDevice;
  #pointer: CUdeviceptr | undefined;
  readonly #allocation: Allocation | undefined;

  private constructor(device: CudaDevice, dtype: Dtype, length: number, pointer: CUdeviceptr, allocation: Allocation | undefined) {
    this.cudaDevice = device;
    this.dtype = dtype;
    this.length = length;
    this.#pointer = pointer;
    this.#allocation = allocation;
    if (allocation && allocation.base !== 0n) leaks.register(this, allocation, this);
  }

  /** Uninitialized device memory for `length` elements (NaN-filled, with guards, under the test hook). */
  static allocate(device: CudaDevice, dtype: Dtype, length: number): CudaStorage {
    const bytes = length * bytesPerElement(dtype);
    if (bytes === 0) return new CudaStorage(device, dtype, length, 0n as CUdeviceptr, undefined);
    const guard = guardBytes;
    const base = device.allocate(bytes + 2 * guard);
    const pointer = (base + BigInt(guard)) as CUdeviceptr;
    // The storage owns the allocation before the fill, so a fill that fails frees it.
    return disposeOnThrow((keep) => {
      const storage = keep(new CudaStorage(device, dtype, length, pointer, { device, base, guard }));
      if (guard > 0) device.fillBytes(base, 0xff, bytes + 2 * guard);
      return storage;
    });
  }

  /** Copies host data in (enqueued on the device's stream). */
  static upload(device: CudaDevice, data: HostArray, dtype: Dtype): CudaStorage {
    return disposeOnThrow((keep) => {
      const storage = keep(CudaStorage.allocate(device, dtype, data.length));
      device.copyToDevice(storage.pointer, data);
      return storage;
    });
  }

  /** Memory owned by someone else: never freed here. */
  static wrap(device: CudaDevice, pointer: CUdeviceptr, dtype: Dtype, length: number): CudaStorage {
    return new CudaStorage(device, dtype, length, pointer, undefined);
  }

  get device(): string {
    return this.cudaDevice.label;
  }

  get byteLength(): number {
    return this.length * bytesPerElement(this.dtype);
  }

  get pointer(): CUdeviceptr {
    if (this.#pointer === undefined) throw new DisposedError('tensor: its cuda storage was disposed and cannot be used');
    return this.#pointer;
  }

  get isDisposed(): boolean {
    return this.#pointer === undefined;
  }

  /** Waits (without blocking the event loop) for the work enqueued so far, then copies out. */
  async read(): Promise<HostArray> {
    const out = this.dtype === 'float32' ? new Float32Array(this.length) : new Uint16Array(this.length);
    if (this.length === 0) return out;
    this.pointer;
    await this.cudaDevice.idle();
    // Disposed while waiting: the memory may already be back in the pool.
    this.cudaDevice.copyToHost(out, this.pointer);
    return out;
  }

  dispose(): void {
    if (this.#pointer === undefined) return;
    if (this.#allocation && this.#allocation.base !== 0n) {
      // Freed before it is forgotten: if the free fails, the storage stays live (and watched by `leaks`), so a
      // second dispose() can still free it.
      this.cudaDevice.free(this.#allocation.base);
      leaks.unregister(this);
    }
    this.#pointer = undefined;
  }

  /** @internal Tests only: whether both guard margins still hold only 0xFF bytes. */
  async guardsIntact(): Promise<boolean> {
    const allocation = this.#allocation;
    if (!allocation || allocation.guard === 0) throw new Error('guardsIntact: this storage was allocated without guards');
    await this.cudaDevice.idle();
    const guard = allocation.guard;
    const before = new Uint8Array(guard);
    const after = new Uint8Array(guard);
    this.cudaDevice.copyToHost(before, allocation.base);
    this.cudaDevice.copyToHost(after, (allocation.base + BigInt(guard + this.byteLength)) as CUdeviceptr);
    return before.every((b) => b === 0xff) && after.every((b) => b === 0xff);
  }
}

/**
 * @internal Tests only: allocate every cuda buffer with `bytes` of 0xFF on each side and fill it with 0xFF
 * (NaN in float16, bfloat16 and float32), to catch unwritten elements and out-of-bounds writes. 0 turns it off.
 */
export function setGuardBytesForTesting(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes % 256 !== 0) {
    throw new Error(`setGuardBytesForTesting: expected a multiple of 256 (keeps alignment), got ${bytes}`);
  }
  guardBytes = bytes;
}
