/**
 * The tolerance rule of testing.md. For float16/bfloat16:
 *   max|X - X64| <= F * max|Xlp - X64| + floor,   floor = 2 * ulp(dtype, max|X64|)
 * where Xlp is naive attention in the input dtype. For float32 (CPU): max|X - X64| <= 1e-5 * max|X64|
 * (no floor: testing.md asks for relative error <= 1e-5 alone).
 * Positions where the reference is -Infinity (lse of an empty row) must be exactly -Infinity; a NaN or
 * infinity anywhere else is an infinite error.
 */
import { type Dtype, ulp } from '../../src/dtype.js';

export const FLOAT32_RELATIVE = 1e-5;

/** F for o and lse, for dq/dk/dv, and for the overflow regression. */
export const FACTOR = { forward: 2, backward: 3, overflow: 5 } as const;

export interface ErrorStats {
  max: number;
  mean: number;
  /** index of the largest error (-1 when empty) */
  at: number;
}

function elementError(x: number, ref: number): number {
  if (Number.isNaN(x) || Number.isNaN(ref)) return Infinity;
  if (!Number.isFinite(ref)) return x === ref ? 0 : Infinity;
  if (!Number.isFinite(x)) return Infinity;
  return Math.abs(x - ref);
}

export function errorStats(x: ArrayLike<number>, ref: ArrayLike<number>): ErrorStats {
  if (x.length !== ref.length) return { max: Infinity, mean: Infinity, at: -1 };
  let max = 0;
  let sum = 0;
  let at = -1;
  for (let i = 0; i < x.length; i++) {
    const e = elementError(x[i], ref[i]);
    sum += e;
    if (e > max || (at < 0 && e === max)) {
      max = e;
      at = i;
    }
  }
  return { max, mean: x.length ? sum / x.length : 0, at };
}

/** Largest element error of x against ref (errorStats's max): matching infinities count 0; NaN, any other non-finite value or different lengths, Infinity. */
export function maxError(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  return errorStats(x, ref).max;
}

/** Largest finite magnitude of the reference. */
export function maxAbs(ref: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) if (Number.isFinite(ref[i])) m = Math.max(m, Math.abs(ref[i]));
  return m;
}

export interface Check {
  /** output name: o, lse, dq, dk, dv */
  name: string;
  x: ArrayLike<number>;
  x64: ArrayLike<number>;
  /** the low-precision baseline; unused for float32 */
  xlp?: ArrayLike<number>;
  dtype: Dtype;
  factor: number;
}

/** Where a failing case can be rerun from, printed with every failure. */
export interface Context {
  seed: number;
  repro: string;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toExponential(3) : String(x));

/** Returns null when X meets the rule, else a message with the numbers, the seed and the repro line. */
export function toleranceFailure(c: Check, ctx: Context): string | null {
  const err = errorStats(c.x, c.x64);
  const scale = maxAbs(c.x64);
  const floor = 2 * ulp(c.dtype, scale);
  let bound: number;
  let detail: string;
  if (c.dtype === 'float32') {
    bound = FLOAT32_RELATIVE * scale; // testing.md: relative error <= 1e-5, no ulp floor
    detail = `relative ${fmt(err.max / (scale || 1))} > ${FLOAT32_RELATIVE}`;
  } else {
    if (!c.xlp) throw new Error(`${c.name}: a ${c.dtype} check needs the low-precision baseline`);
    const lp = errorStats(c.xlp, c.x64);
    // A baseline that overflowed (or NaN) bounds nothing: F x infinity would pass NaN outputs.
    if (!Number.isFinite(lp.max)) {
      return `${c.name}: the low-precision baseline is not finite where the reference is (at [${lp.at}]): the rule gives no bound; seed ${ctx.seed}\n  repro: ${ctx.repro}`;
    }
    bound = c.factor * lp.max + floor;
    detail = `lp max err ${fmt(lp.max)}, ratio ${fmt(err.max / lp.max)} > F=${c.factor}`;
  }
  if (err.max <= bound) return null;
  const got = err.at >= 0 ? c.x[err.at] : NaN;
  const want = err.at >= 0 ? c.x64[err.at] : NaN;
  return (
    `${c.name}: max err ${fmt(err.max)} at [${err.at}] (got ${got}, float64 ${want}), mean err ${fmt(err.mean)}, ` +
    `${detail} (bound ${fmt(bound)}, floor ${fmt(floor)}, max|X64| ${fmt(scale)}); seed ${ctx.seed}\n  repro: ${ctx.repro}`
  );
}
