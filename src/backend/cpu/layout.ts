import type { AttentionProblem } from '../../backend.js';
import { type Dtype, type HostArray, decodeArray, encodeArray } from '../../dtype.js';
import { HostStorage, type Storage } from '../../storage.js';

/** Block sizes of the tiled CPU kernels: Br query rows by Bc key rows, as in the paper. */
export const Br = 64;
export const Bc = 64;

/** The elements of a host storage as float32 values (no copy for float32). */
export function valuesOf(storage: Storage): Float32Array {
  const host = storage as HostStorage;
  return host.dtype === 'float32' ? (host.array as Float32Array) : decodeArray(host.array, host.dtype);
}

/** Rounds float64 accumulators once to `dtype` and wraps them as a storage on `device`. */
export function storeRounded(values: Float64Array, dtype: Dtype, device: string): HostStorage {
  const array: HostArray = encodeArray(values, dtype);
  return new HostStorage(device, dtype, array);
}

/** Offset of row (b, i, head) in a [n, l, heads, d] tensor. */
export function rowOffset(b: number, i: number, head: number, l: number, heads: number, d: number): number {
  return ((b * l + i) * heads + head) * d;
}

/**
 * The inclusive range of keys query i may see, before clipping to [0, lk - 1]:
 * lo = i + offset - left (or -Infinity), hi = i + offset + right (or +Infinity).
 */
export function keyRange(p: AttentionProblem, i: number): [number, number] {
  const diagonal = i + p.diagonalOffset;
  return [p.windowLeft < 0 ? -Infinity : diagonal - p.windowLeft, p.windowRight < 0 ? Infinity : diagonal + p.windowRight];
}

/** The inclusive range of queries that may see key j (the transpose of keyRange). */
export function queryRange(p: AttentionProblem, j: number): [number, number] {
  const diagonal = j - p.diagonalOffset;
  return [p.windowRight < 0 ? -Infinity : diagonal - p.windowRight, p.windowLeft < 0 ? Infinity : diagonal + p.windowLeft];
}
