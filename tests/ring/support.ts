import type { Dtype } from '../../src/dtype.js';
import { type Tensor, randn } from '../../src/index.js';
import type { Shape } from '../support/problem.js';
import { type Mask, referenceBackward, referenceForward } from '../support/reference.js';

export { maxError } from '../support/tolerance.js';

export const cpuDevices = (w: number): string[] => Array.from({ length: w }, (_, i) => `cpu:${i}`);

export interface Case extends Shape {
  dtype: Dtype;
  isCausal?: boolean;
  windowSize?: [number, number];
  seed: number;
}

export interface Inputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dout: Tensor;
  mask: Mask;
}

export function makeInputs(c: Case): Inputs {
  const opts = (seed: number) => ({ seed: c.seed * 10 + seed, dtype: c.dtype });
  const left = c.windowSize?.[0] ?? -1;
  const right = c.isCausal ? 0 : (c.windowSize?.[1] ?? -1);
  return {
    q: randn([c.n, c.lq, c.h, c.d], opts(1)),
    k: randn([c.n, c.lk, c.hk, c.d], opts(2)),
    v: randn([c.n, c.lk, c.hk, c.d], opts(3)),
    dout: randn([c.n, c.lq, c.h, c.d], opts(4)),
    mask: {
      n: c.n, lq: c.lq, lk: c.lk, h: c.h, hk: c.hk, d: c.d,
      softmaxScale: 1 / Math.sqrt(c.d), windowLeft: left, windowRight: right, diagonalOffset: c.lk - c.lq,
    },
  };
}

/** The float64 reference of every output, from the (already rounded) inputs. */
export async function reference(x: Inputs) {
  const [q, k, v, dout] = await Promise.all([x.q, x.k, x.v, x.dout].map((t) => t.toFloat32Array()));
  return { ...referenceForward(x.mask, q, k, v), ...referenceBackward(x.mask, q, k, v, dout) };
}

export const describeCase = (c: Case): string =>
  `n=${c.n} lq=${c.lq} lk=${c.lk} h=${c.h}/${c.hk} d=${c.d} ${c.dtype} causal=${!!c.isCausal} window=${JSON.stringify(c.windowSize ?? null)} seed=${c.seed}`;

export function options(c: Case) {
  return { isCausal: c.isCausal, ...(c.windowSize ? { windowSize: c.windowSize } : {}) };
}

export const randomTensor = randn;

/** testing.md's ring tolerance: forward F=2 plus 1e-3 W, backward F=3 plus 8e-3 W, against the single-device error. */
export const RING_BOUND = {
  out: { F: 2, perDevice: 1e-3 },
  lse: { F: 2, perDevice: 1e-3 },
  dq: { F: 3, perDevice: 8e-3 },
  dk: { F: 3, perDevice: 8e-3 },
  dv: { F: 3, perDevice: 8e-3 },
} as const;
export type RingOutput = keyof typeof RING_BOUND;

/**
 * What `run` throws, and the warnings emitted meanwhile (they arrive on a later tick): for failures whose cleanup
 * fails too, which must warn instead of replacing the error.
 */
export async function thrownWithWarnings(run: () => void): Promise<{ error: unknown; warnings: string[] }> {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  let error: unknown;
  try {
    try {
      run();
    } catch (e) {
      error = e;
    }
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return { error, warnings };
}
