/**
 * The two inner loops of the CPU kernels. Unrolled by four with independent accumulators: V8 then keeps
 * several multiply-adds in flight, about twice the speed of the plain loop (measured on the CI machine).
 */
type Vec = Float32Array | Float64Array;

/** sum over x < len of a[aOff + x] * b[bOff + x] */
export function dot(a: Vec, aOff: number, b: Vec, bOff: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let x = 0;
  for (; x + 3 < len; x += 4) {
    s0 += a[aOff + x] * b[bOff + x];
    s1 += a[aOff + x + 1] * b[bOff + x + 1];
    s2 += a[aOff + x + 2] * b[bOff + x + 2];
    s3 += a[aOff + x + 3] * b[bOff + x + 3];
  }
  for (; x < len; x++) s0 += a[aOff + x] * b[bOff + x];
  return s0 + s1 + s2 + s3;
}

/** y[yOff + x] += alpha * v[vOff + x] for x < len */
export function axpy(y: Float64Array, yOff: number, alpha: number, v: Vec, vOff: number, len: number): void {
  let x = 0;
  for (; x + 3 < len; x += 4) {
    y[yOff + x] += alpha * v[vOff + x];
    y[yOff + x + 1] += alpha * v[vOff + x + 1];
    y[yOff + x + 2] += alpha * v[vOff + x + 2];
    y[yOff + x + 3] += alpha * v[vOff + x + 3];
  }
  for (; x < len; x++) y[yOff + x] += alpha * v[vOff + x];
}
