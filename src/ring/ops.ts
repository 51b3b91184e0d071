import type { DeviceKind } from '../device.js';
import type { Dtype } from '../dtype.js';
import { BackendUnavailableError, describe } from '../errors.js';
import type { Storage } from '../storage.js';
import type { RingTransport } from './transport.js';
import { cudaRingOps } from './cuda-ops.js';
import { hostRingOps } from './host-ops.js';

/**
 * The few data movements and element-wise steps the ring needs besides the attention kernels, for one
 * kind of device. Every storage is row-major; `axis` cuts a shape into outer x axis x inner.
 */
export interface RingDeviceOps {
  /** Rows [start, start + length) along `axis` of `src` (of `shape`), copied into a new storage on `device`. */
  slice(src: Storage, shape: readonly number[], axis: number, start: number, length: number, device: string): Storage;
  /** The parts (each of the matching shape) joined along `axis` into a new storage on `device`. */
  concat(parts: readonly Storage[], shapes: readonly (readonly number[])[], axis: number, device: string): Storage;
  /** A float32 storage of `length` elements, all `value`. */
  filled(length: number, value: number, device: string): Storage;
  /**
   * Merges a partial forward result (out [n, l, h, d], lse [n, h, l], float32) into a running one over
   * `dims.accRows` query rows (default l), at row `dims.rowOffset` (default 0). See merge.ts for the math.
   */
  mergePartial(accOut: Storage, accLse: Storage, partOut: Storage, partLse: Storage, dims: MergeDims): void;
  /** acc += part, both float32 of the same length. */
  addInto(acc: Storage, part: Storage): void;
  /**
   * acc[b, rowOffset + i, :] += part[b, i, :] for every b < n, i < rows, both float32 with `rowElements`
   * elements per row; acc has accRows rows per b. A segment's gradient added into its shard's.
   */
  addRows(acc: Storage, part: Storage, rows: RowsDims): void;
  /** A copy of a float32 storage rounded once to `dtype`. */
  cast(src: Storage, dtype: Dtype): Storage;
  /** A ring transport over these devices (ranks may repeat a device). */
  createTransport(devices: readonly string[]): RingTransport;
}

export interface MergeDims {
  n: number;
  l: number;
  h: number;
  d: number;
  accRows?: number;
  rowOffset?: number;
}

export interface RowsDims {
  n: number;
  rows: number;
  accRows: number;
  rowOffset: number;
  rowElements: number;
}

// CPU virtual devices have the host implementation, CUDA GPUs the kernels of kernels/ring (loaded on first use).
const registry = new Map<DeviceKind, RingDeviceOps>([
  ['cpu', hostRingOps],
  ['cuda', cudaRingOps],
]);

export function registerRingOps(kind: DeviceKind, ops: RingDeviceOps): void {
  registry.set(kind, ops);
}

export function ringOpsFor(kind: DeviceKind): RingDeviceOps {
  const ops = registry.get(kind);
  if (!ops) {
    throw new BackendUnavailableError(`devices: ring attention has no implementation for ${describe(kind)} devices yet`);
  }
  return ops;
}
