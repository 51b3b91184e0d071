/**
 * Seeded test inputs, already rounded to the dtype under test: the float64 reference and the
 * low-precision baseline are computed from exactly the values the backend receives.
 */
import { type Dtype, type HostArray, decodeArray, encodeArray } from '../../src/dtype.js';
import { type Tensor, normalSamples, tensor } from '../../src/tensor.js';

/** Host values of one tensor: `values` are the exact (rounded) numbers, `raw` the storage to upload. */
export interface HostValues {
  shape: number[];
  dtype: Dtype;
  values: Float32Array;
  raw: HostArray;
}

/** Rounds arbitrary numbers to `dtype` and keeps both the storage form and the exact values. */
export function hostValues(numbers: ArrayLike<number>, shape: readonly number[], dtype: Dtype): HostValues {
  const raw = encodeArray(numbers, dtype);
  return { shape: [...shape], dtype, values: decodeArray(raw, dtype), raw };
}

/** Normal samples with standard deviation `scale`, rounded to `dtype`. */
export function randomValues(shape: readonly number[], dtype: Dtype, seed: number, scale = 1): HostValues {
  const count = shape.reduce((a, b) => a * b, 1);
  return hostValues(normalSamples(count, seed, scale), shape, dtype);
}

/** Uploads host values to a device (a fresh copy each call). */
export function upload(h: HostValues, device: string): Tensor {
  const data = h.raw instanceof Uint16Array ? h.raw.slice() : Float32Array.from(h.raw);
  return tensor(data, h.shape, { dtype: h.dtype, device });
}

/** Seeds for the four inputs of one case, derived from a case seed so each is independent. */
export function inputSeeds(seed: number): { q: number; k: number; v: number; dout: number } {
  const base = (seed * 4) >>> 0;
  return { q: base + 1, k: base + 2, v: base + 3, dout: base + 4 };
}
