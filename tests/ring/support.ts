import type { AttentionProblem } from '../../src/backend.js';
import { type Dtype, encodeArray } from '../../src/dtype.js';
import { type Tensor, randn } from '../../src/index.js';
import type { SequenceLayout } from '../../src/ring/layout.js';
import { HostStorage, type Storage } from '../../src/storage.js';
import { normalSamples } from '../../src/tensor.js';
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

/** A small causal ring for the failure tests: every backend call, transfer or release can be made to fail in turn. */
export interface FailureRing {
  w: number;
  layout: SequenceLayout;
  problem: AttentionProblem;
}

function failureProblem(lq: number, lk: number): AttentionProblem {
  return {
    n: 1, lq, lk, h: 2, hk: 1, d: 8, dtype: 'float32', device: 'cpu:0', softmaxScale: 0.35, outDtype: 'float32',
    deterministic: false, windowLeft: -1, windowRight: 0, diagonalOffset: lk - lq,
  };
}

// Zigzag causal (query segments cut, partial results merged into fills); and lq = 2 lk causal, where rank 0 sees
// no key at step 0, so its travelling dK and dV start as fills.
export const FAILURE_RINGS: readonly FailureRing[] = [
  { w: 3, layout: 'zigzag', problem: failureProblem(48, 48) },
  { w: 2, layout: 'contiguous', problem: failureProblem(32, 16) },
];

/** One float32 host shard per rank of `rows` rows of `heads` heads of 8 columns, seeded. */
export function failureShards(ring: FailureRing, rows: number, heads: number, seed: number): Storage[] {
  return cpuDevices(ring.w).map((device, r) => new HostStorage(device, 'float32', encodeArray(normalSamples((rows / ring.w) * heads * 8, seed * 10 + r), 'float32')));
}
