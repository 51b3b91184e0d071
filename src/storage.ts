import type { Dtype, HostArray } from './dtype.js';

/**
 * Where a tensor's elements live. Each backend has its own kind of storage; the tensor owns one and
 * disposes it. Reads are asynchronous because device work may still be in flight.
 */
export interface Storage {
  /** Canonical device name, like `cpu:0` or `cuda:1`. */
  readonly device: string;
  readonly dtype: Dtype;
  readonly length: number;
  /** A host copy of the raw elements (Float32Array for float32, Uint16Array bits otherwise). */
  read(): Promise<HostArray>;
  dispose(): void;
}

/** Elements in ordinary host memory: the CPU backend's storage. */
export class HostStorage implements Storage {
  constructor(
    readonly device: string,
    readonly dtype: Dtype,
    readonly array: HostArray,
  ) {}

  get length(): number {
    return this.array.length;
  }

  async read(): Promise<HostArray> {
    return this.array.slice();
  }

  dispose(): void {
    // Host memory is garbage collected; dropping the tensor's reference is enough.
  }
}
