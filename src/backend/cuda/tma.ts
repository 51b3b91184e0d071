/**
 * The tensor maps the Hopper kernels read q, k, v (and, in the backward, dout) through (TMA), and the backward
 * adds dQ into dq_accum through, as pure functions: the geometry of a map over one [n, rows, heads, d] tensor, and
 * the driver's rules for a valid map. runtime.ts encodes them; kernels/test/flashk.py (`tensor_map`) is the
 * reference this mirrors.
 */

/**
 * Bytes per element: 2 for q, k, v, dout (float16 or bfloat16: the kernel only moves their bits, so the map's data
 * type is UINT16), 4 for dq_accum (FLOAT32: TMA's reductions add in the map's data type).
 */
export type TmaElementBytes = 2 | 4;
/** A box row is 128 bytes, the 128B swizzle's width: 64 columns of 16-bit data (the kernels load d in such bands), 32 of float32. */
export const TMA_BOX_ROW_BYTES = 128;

const TMA_MAX_DIM = 2 ** 32;
const TMA_MAX_STRIDE = 2 ** 40;
const TMA_STRIDE_MULTIPLE = 16;
const TMA_MAX_BOX = 256;
const TMA_MAX_ELEMENT_STRIDE = 8;
/** With the 128B swizzle, a box row may span at most the swizzle's width. */
const TMA_SWIZZLE_BYTES = 128;
/** The global address must be 16-byte aligned (no interleave). */
export const TMA_ADDRESS_ALIGNMENT = 16;

/** What cuTensorMapEncodeTiled takes for a rank-4 map, innermost dimension first. */
export interface TensorMapGeometry {
  elementBytes: TmaElementBytes;
  /** [d, rows, heads, n] */
  globalDim: readonly [number, number, number, number];
  /** Bytes between consecutive rows, heads and batch entries (dimension 0 is contiguous, so it has none). */
  globalStrides: readonly [number, number, number];
  /** [128 / elementBytes, boxRows, 1, 1] */
  boxDim: readonly [number, number, number, number];
  elementStrides: readonly [number, number, number, number];
}

/** A [n, rows, heads, d] tensor, row-major (d fastest), as q ([n, lq, h, d]) and k, v ([n, lk, hk, d]) are. */
export interface AttentionTensorShape {
  n: number;
  rows: number;
  heads: number;
  d: number;
}

/** The map over `shape` whose box is one 128-byte row wide and `boxRows` rows of one (batch, head) tall. */
export function attentionTensorMap(shape: AttentionTensorShape, boxRows: number, elementBytes: TmaElementBytes = 2): TensorMapGeometry {
  const { n, rows, heads, d } = shape;
  const rowBytes = d * elementBytes;
  return {
    elementBytes,
    globalDim: [d, rows, heads, n],
    globalStrides: [heads * rowBytes, rowBytes, rows * heads * rowBytes],
    boxDim: [TMA_BOX_ROW_BYTES / elementBytes, boxRows, 1, 1],
    elementStrides: [1, 1, 1, 1],
  };
}

/**
 * The first rule of cuTensorMapEncodeTiled (CUDA driver API reference) that a map over `address` would
 * break, or undefined when it is valid. Checked before encoding so that an unusual shape falls back to the
 * sm_80 kernel instead of failing. An `address` not known yet (explain() has no dout) leaves only the geometry
 * to check.
 */
export function tensorMapViolation(map: TensorMapGeometry, address: bigint | undefined): string | undefined {
  if (address !== undefined && address % BigInt(TMA_ADDRESS_ALIGNMENT) !== 0n) {
    return `address 0x${address.toString(16)} is not ${TMA_ADDRESS_ALIGNMENT}-byte aligned`;
  }
  for (const [i, dim] of map.globalDim.entries()) {
    if (!Number.isInteger(dim) || dim < 1 || dim > TMA_MAX_DIM) return `globalDim[${i}] = ${dim} is outside 1..2^32`;
  }
  for (const [i, stride] of map.globalStrides.entries()) {
    if (stride % TMA_STRIDE_MULTIPLE !== 0) return `globalStrides[${i}] = ${stride} bytes is not a multiple of ${TMA_STRIDE_MULTIPLE}`;
    if (stride >= TMA_MAX_STRIDE) return `globalStrides[${i}] = ${stride} bytes is not below 2^40`;
  }
  for (const [i, box] of map.boxDim.entries()) {
    if (!Number.isInteger(box) || box < 1 || box > TMA_MAX_BOX) return `boxDim[${i}] = ${box} is outside 1..${TMA_MAX_BOX}`;
  }
  for (const [i, step] of map.elementStrides.entries()) {
    if (!Number.isInteger(step) || step < 1 || step > TMA_MAX_ELEMENT_STRIDE) return `elementStrides[${i}] = ${step} is outside 1..${TMA_MAX_ELEMENT_STRIDE}`;
  }
  const innerBytes = map.boxDim[0] * map.elementBytes;
  if (innerBytes % TMA_STRIDE_MULTIPLE !== 0 || innerBytes > TMA_SWIZZLE_BYTES) {
    return `the box's inner extent (${innerBytes} bytes) is not a multiple of ${TMA_STRIDE_MULTIPLE} of at most ${TMA_SWIZZLE_BYTES}`;
  }
  return undefined;
}
