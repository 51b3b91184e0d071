/**
 * The tolerance rule of testing.md for the GPU-only checks: max|X - X64| <= F * max|Xlp - X64| + floor,
 * with Xlp a naive attention in the input dtype (float32 accumulation inside each product, the product's
 * result, the scaled scores, the probabilities and the output rounded to the dtype, as a plain framework
 * would) and floor = 2 ulp(dtype of X, max|X64|).
 */
import type { Dtype } from '../../src/dtype.js';
import { roundTo, ulp } from '../../src/dtype.js';
import { isAllowed } from '../../src/params.js';
import type { Mask } from '../support/reference.js';
import { singleTestLine } from '../support/attentionCase.js';
import { testFile } from '../support/gridSuite.js';
import { errorStats, maxAbs, maxError } from '../support/tolerance.js';

/** The one-line repro testing.md asks every failure to print: reruns the test named in the compiled file. */
export function reproOf(moduleUrl: string, testName: string | undefined): string {
  return singleTestLine(testName ?? '', testFile(moduleUrl));
}

export interface Outputs {
  o?: ArrayLike<number>;
  lse?: ArrayLike<number>;
  dq?: ArrayLike<number>;
  dk?: ArrayLike<number>;
  dv?: ArrayLike<number>;
}

const at = (b: number, i: number, head: number, l: number, heads: number, d: number) => ((b * l + i) * heads + head) * d;

/** Naive forward and backward in `dtype`, row by row. */
export function naiveLowPrecision(p: Mask, dtype: Dtype, q: Float32Array, k: Float32Array, v: Float32Array, dout?: Float32Array): Required<Outputs> {
  const { n, lq, lk, h, hk, d, softmaxScale } = p;
  const r = (x: number) => roundTo(x, dtype);
  const o = new Float64Array(n * lq * h * d);
  const lse = new Float64Array(n * h * lq);
  const dq = new Float64Array(n * lq * h * d);
  const dk = new Float64Array(n * lk * hk * d);
  const dv = new Float64Array(n * lk * hk * d);
  for (let b = 0; b < n; b++) {
    for (let head = 0; head < h; head++) {
      const kvHead = Math.floor(head / (h / hk));
      for (let i = 0; i < lq; i++) {
        const qo = at(b, i, head, lq, h, d);
        const s = new Float64Array(lk).fill(-Infinity);
        let max = -Infinity;
        for (let j = 0; j < lk; j++) {
          if (!isAllowed(p, i, j)) continue;
          const ko = at(b, j, kvHead, lk, hk, d);
          let dot = 0;
          for (let x = 0; x < d; x++) dot = Math.fround(dot + q[qo + x] * k[ko + x]);
          s[j] = r(r(dot) * softmaxScale);
          max = Math.max(max, s[j]);
        }
        const lseIndex = (b * h + head) * lq + i;
        if (max === -Infinity) {
          lse[lseIndex] = -Infinity;
          continue;
        }
        let sum = 0;
        for (let j = 0; j < lk; j++) if (s[j] !== -Infinity) sum = Math.fround(sum + Math.exp(s[j] - max));
        lse[lseIndex] = Math.fround(max + Math.log(sum));
        const prob = new Float64Array(lk);
        for (let j = 0; j < lk; j++) prob[j] = s[j] === -Infinity ? 0 : r(Math.exp(s[j] - max) / sum);
        const acc = new Float64Array(d);
        for (let j = 0; j < lk; j++) {
          if (prob[j] === 0) continue;
          const vo = at(b, j, kvHead, lk, hk, d);
          for (let x = 0; x < d; x++) acc[x] = Math.fround(acc[x] + prob[j] * v[vo + x]);
        }
        for (let x = 0; x < d; x++) o[qo + x] = r(acc[x]);
        if (!dout) continue;
        const dp = new Float64Array(lk);
        let rowD = 0;
        for (let x = 0; x < d; x++) rowD = Math.fround(rowD + dout[qo + x] * o[qo + x]);
        for (let j = 0; j < lk; j++) {
          if (prob[j] === 0) continue;
          const vo = at(b, j, kvHead, lk, hk, d);
          let dot = 0;
          for (let x = 0; x < d; x++) dot = Math.fround(dot + dout[qo + x] * v[vo + x]);
          dp[j] = r(dot);
        }
        for (let j = 0; j < lk; j++) {
          if (prob[j] === 0) continue;
          const ko = at(b, j, kvHead, lk, hk, d);
          const ds = r(prob[j] * (dp[j] - rowD));
          for (let x = 0; x < d; x++) {
            dv[ko + x] += prob[j] * dout[qo + x];
            dq[qo + x] += ds * k[ko + x];
            dk[ko + x] += ds * q[qo + x];
          }
        }
      }
    }
  }
  const scaled = (a: Float64Array) => a.map((x) => r(r(x) * softmaxScale));
  return { o, lse, dq: scaled(dq), dk: scaled(dk), dv: dv.map(r) };
}

/** The rule's bound on max|X - X64| for one output: F * max|Xlp - X64| + 2 ulp(dtype of X, max|X64|). */
export function toleranceBound(key: keyof Outputs, exact: ArrayLike<number>, naive: ArrayLike<number>, dtype: Dtype, factor: number): { bound: number; baseline: number; floor: number } {
  const floor = 2 * ulp(key === 'lse' ? 'float32' : dtype, maxAbs(exact));
  const baseline = maxError(naive, exact);
  return { bound: factor * baseline + floor, baseline, floor };
}

/**
 * Failures of the tolerance rule, one line each (empty when all pass), for each output `got` has (a test may check
 * a few, e.g. dq alone); one that the reference or the baseline lacks is a failure, not a skip. A non-finite error
 * always fails, and so does a non-finite baseline: F x infinity would bound nothing (a naive overflow to infinity
 * would otherwise let NaN outputs pass).
 */
export function toleranceFailures(
  got: Outputs,
  exact: Outputs,
  naive: Outputs,
  dtype: Dtype,
  factors: { forward: number; backward: number },
): string[] {
  const failures: string[] = [];
  for (const key of ['o', 'lse', 'dq', 'dk', 'dv'] as const) {
    const x = got[key];
    const x64 = exact[key];
    const xlp = naive[key];
    if (!x) continue;
    if (!x64 || !xlp) {
      failures.push(`${key}: checked, but the ${x64 ? 'naive baseline' : 'float64 reference'} has no ${key}`);
      continue;
    }
    const factor = key === 'o' || key === 'lse' ? factors.forward : factors.backward;
    const { bound, baseline, floor } = toleranceBound(key, x64, xlp, dtype, factor);
    const error = errorStats(x, x64);
    if (!Number.isFinite(baseline)) {
      failures.push(`${key}: the naive baseline is not finite where the reference is (max error ${baseline}): the rule bounds nothing here`);
    } else if (!(error.max <= bound)) {
      failures.push(`${key}: max error ${error.max.toExponential(3)} (mean ${error.mean.toExponential(3)}) > ${factor} x naive ${baseline.toExponential(3)} + floor ${floor.toExponential(3)} (ratio ${(error.max / Math.max(baseline, floor)).toFixed(2)})`);
    }
  }
  return failures;
}
