/**
 * Spot checks for results too large for a full reference: one query row at a time, straight from the
 * definition (semantics.md), with the tolerance rule of testing.md: for each output X,
 *   max|X - X64| <= F * max|Xlp - X64| + 2 ulp(dtype, max|X64|)
 * where X64 is float64 arithmetic and Xlp a plain framework's computation in the input dtype. The test
 * suite applies the same rule to whole tensors (tests/support).
 */
import type { AttentionProblem } from './backend.js';
import { type Dtype, roundTo, ulp } from './dtype.js';
import { isAllowed } from './params.js';

export interface RowValues {
  o: Float64Array;
  lse: number;
  dq: Float64Array;
}

export interface RowInputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
}

/**
 * o, lse and dq of query row (b, head, i). `round` is applied where a framework rounds its intermediate
 * tensors (S, P, o, lse, dP, dS, dq); the identity gives the float64 reference.
 */
export function attentionRow(p: AttentionProblem, t: RowInputs, b: number, head: number, i: number, round: (x: number) => number): RowValues {
  const { lq, lk, h, hk, d, softmaxScale } = p;
  const kvHead = Math.floor(head / (h / hk));
  const qOff = ((b * lq + i) * h + head) * d;
  const kOff = (j: number) => ((b * lk + j) * hk + kvHead) * d;
  const dot = (a: Float32Array, aOff: number, c: Float32Array, cOff: number) => {
    let sum = 0;
    for (let x = 0; x < d; x++) sum += a[aOff + x] * c[cOff + x];
    return sum;
  };
  const keys = Array.from({ length: lk }, (_, j) => j).filter((j) => isAllowed(p, i, j));
  const o = new Float64Array(d);
  const dq = new Float64Array(d);
  if (keys.length === 0) return { o, lse: -Infinity, dq };
  const S = keys.map((j) => round(softmaxScale * dot(t.q, qOff, t.k, kOff(j))));
  const max = S.reduce((a, s) => Math.max(a, s), -Infinity);  // not Math.max(...S): past ~1e5 keys, a RangeError
  const sum = S.reduce((acc, s) => acc + Math.exp(s - max), 0);
  const P = S.map((s) => round(Math.exp(s - max) / sum));
  const dP = keys.map((j) => round(dot(t.dout, qOff, t.v, kOff(j))));
  const D = P.reduce((acc, pj, n) => acc + pj * dP[n], 0);
  keys.forEach((j, n) => {
    const dS = round(P[n] * (dP[n] - D));
    for (let x = 0; x < d; x++) {
      o[x] += P[n] * t.v[kOff(j) + x];
      dq[x] += softmaxScale * dS * t.k[kOff(j) + x];
    }
  });
  return { o: o.map(round), lse: round(max + Math.log(sum)), dq: dq.map(round) };
}

export interface RuleResult {
  error: number;
  lowPrecisionError: number;
  bound: number;
  ok: boolean;
}

/** The tolerance rule for one output (float32: relative error <= 1e-5 against float64). */
export function toleranceRule(got: ArrayLike<number>, lp: ArrayLike<number>, ref: ArrayLike<number>, dtype: Dtype, F: number): RuleResult {
  let error = 0;
  let lowPrecisionError = 0;
  let scale = 0;
  for (let x = 0; x < ref.length; x++) {
    const exact = ref[x];
    const same = (a: number) => a === exact; // equal infinities (lse of an empty row) are no error
    error = Math.max(error, same(got[x]) ? 0 : Math.abs(got[x] - exact));
    lowPrecisionError = Math.max(lowPrecisionError, same(lp[x]) ? 0 : Math.abs(lp[x] - exact));
    if (Number.isFinite(exact)) scale = Math.max(scale, Math.abs(exact));
  }
  const bound = dtype === 'float32' ? 1e-5 * Math.max(scale, 1e-30) : F * lowPrecisionError + 2 * ulp(dtype, scale);
  // A low-precision baseline that overflowed (or is NaN) bounds nothing: F x Infinity would pass any result.
  const bounded = dtype === 'float32' || Number.isFinite(lowPrecisionError);
  return { error, lowPrecisionError, bound, ok: bounded && error <= bound };
}

/** The rounding function of a dtype, for attentionRow. */
export function rounding(dtype: Dtype): (x: number) => number {
  return (x) => roundTo(x, dtype);
}
