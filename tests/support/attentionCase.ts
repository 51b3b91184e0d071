/**
 * One correctness case: seeded inputs in the case's dtype on a device, the backend's forward and backward
 * pass, the float64 reference and the low-precision baseline from the same rounded inputs, and the
 * tolerance rule on o, lse, dq, dk, dv. Exact checks on top: rows with no allowed key give o = 0,
 * lse = -Infinity, dq = 0, and keys no query sees get dk = dv = 0.
 */
import { flashMhaBwd, flashMhaFwd } from '../../src/index.js';
import type { Dtype } from '../../src/dtype.js';
import type { AttentionOptions } from '../../src/params.js';
import { inputSeeds, randomValues, upload } from './inputs.js';
import { lowPrecisionAttention } from './lowPrecision.js';
import { type Shape, describeOptions, kvShape, maskOf, qShape } from './problem.js';
import { type Mask, referenceBackward, referenceForward } from './reference.js';
import { FACTOR, toleranceFailure } from './tolerance.js';

export interface CaseSpec extends Shape {
  dtype: Dtype;
  options: AttentionOptions;
  seed: number;
  /** standard deviations of q, k, v (1 by default; the overflow regression uses 5, 3, 3) */
  scales?: { q: number; k: number; v: number };
  /** use F = 5 for every output (the overflow regression) */
  overflow?: boolean;
}

export function caseName(c: CaseSpec): string {
  const scaled = c.scales ? ` scales q${c.scales.q} k${c.scales.k} v${c.scales.v}` : '';
  return `${c.dtype} n${c.n} lq${c.lq} lk${c.lk} h${c.h}/${c.hk} d${c.d} ${describeOptions(c.options)}${scaled} seed ${c.seed}`;
}

const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A shell line that reruns exactly one test of a compiled test file. */
export function singleTestLine(testName: string, file: string): string {
  // Single-quoted for the shell: a quote in the name (default's) closes the quotes, is written escaped, reopens them.
  const quoted = regexEscape(testName).replaceAll("'", "'\\''");
  return `node --test --test-name-pattern='${quoted}' ${file}`;
}

/** A shell line that reruns exactly one test of a compiled test file on one device. */
export function reproLine(device: string, testName: string, file: string): string {
  return `FLASH_ATTN_TEST_DEVICES=${device} ${singleTestLine(testName, file)}`;
}

/** Empty rows and unseen keys, from the reference mask: these results are exact, not approximate. */
function exactZeroFailures(m: Mask, lse64: Float64Array, o: Float32Array, lse: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array): string[] {
  const { n, lq, lk, h, hk, d } = m;
  const failures: string[] = [];
  const group = h / hk;
  const seen = new Uint8Array(n * lk * hk);
  for (let b = 0; b < n; b++) {
    for (let head = 0; head < h; head++) {
      for (let i = 0; i < lq; i++) {
        const r = (b * h + head) * lq + i;
        if (lse64[r] !== -Infinity) {
          // a key j is seen by some query iff a query row allows it; mark the allowed range
          for (let j = 0; j < lk; j++) {
            const diagonal = i + m.diagonalOffset;
            if ((m.windowLeft < 0 || j >= diagonal - m.windowLeft) && (m.windowRight < 0 || j <= diagonal + m.windowRight)) {
              seen[(b * lk + j) * hk + Math.floor(head / group)] = 1;
            }
          }
          continue;
        }
        const off = ((b * lq + i) * h + head) * d;
        if (lse[r] !== -Infinity) failures.push(`lse[b${b} h${head} i${i}]: empty row, expected -Infinity, got ${lse[r]}`);
        for (let x = 0; x < d; x++) {
          if (o[off + x] !== 0 || dq[off + x] !== 0) {
            failures.push(`empty row b${b} h${head} i${i}: expected o = dq = 0, got o ${o[off + x]}, dq ${dq[off + x]} at x${x}`);
            break;
          }
        }
      }
    }
  }
  for (let r = 0; r < n * lk * hk; r++) {
    if (seen[r]) continue;
    for (let x = 0; x < d; x++) {
      if (dk[r * d + x] !== 0 || dv[r * d + x] !== 0) {
        failures.push(`key row ${r} (seen by no query): expected dk = dv = 0, got dk ${dk[r * d + x]}, dv ${dv[r * d + x]}`);
        break;
      }
    }
  }
  return failures.slice(0, 8);
}

/** Runs the case on `device`; returns every failure message (empty when the case passes). */
export async function checkCase(device: string, c: CaseSpec, repro: string): Promise<string[]> {
  const seeds = inputSeeds(c.seed);
  const scales = c.scales ?? { q: 1, k: 1, v: 1 };
  const qh = randomValues(qShape(c), c.dtype, seeds.q, scales.q);
  const kh = randomValues(kvShape(c), c.dtype, seeds.k, scales.k);
  const vh = randomValues(kvShape(c), c.dtype, seeds.v, scales.v);
  const douth = randomValues(qShape(c), c.dtype, seeds.dout);

  using q = upload(qh, device);
  using k = upload(kh, device);
  using v = upload(vh, device);
  using dout = upload(douth, device);
  const fwd = flashMhaFwd(q, k, v, c.options);
  using out = fwd.out;
  using lseT = fwd.lse;
  const g = flashMhaBwd(dout, q, k, v, out, lseT, c.options);
  using dqT = g.dq;
  using dkT = g.dk;
  using dvT = g.dv;
  const [o, lse, dq, dk, dv] = await Promise.all([out, lseT, dqT, dkT, dvT].map((t) => t.toFloat32Array()));

  const mask = maskOf(c, c.options);
  const ref = referenceForward(mask, qh.values, kh.values, vh.values);
  const refG = referenceBackward(mask, qh.values, kh.values, vh.values, douth.values);
  const lp = c.dtype === 'float32' ? undefined : lowPrecisionAttention(mask, c.dtype, qh.values, kh.values, vh.values, douth.values);

  const forwardF = c.overflow ? FACTOR.overflow : FACTOR.forward;
  const backwardF = c.overflow ? FACTOR.overflow : FACTOR.backward;
  const ctx = { seed: c.seed, repro };
  const checks = [
    { name: 'o', x: o, x64: ref.o, xlp: lp?.o, factor: forwardF },
    { name: 'lse', x: lse, x64: ref.lse, xlp: lp?.lse, factor: forwardF },
    { name: 'dq', x: dq, x64: refG.dq, xlp: lp?.dq, factor: backwardF },
    { name: 'dk', x: dk, x64: refG.dk, xlp: lp?.dk, factor: backwardF },
    { name: 'dv', x: dv, x64: refG.dv, xlp: lp?.dv, factor: backwardF },
  ];
  const failures: string[] = [];
  for (const check of checks) {
    const failure = toleranceFailure({ ...check, dtype: c.dtype }, ctx);
    if (failure) failures.push(failure);
  }
  failures.push(...exactZeroFailures(mask, ref.lse, o, lse, dq, dk, dv));
  return failures;
}
