// The deterministic backward on a GPU: with deterministic: true, 50 backward runs of one problem give dq, dk,
// dv bitwise identical (the default mode adds dq with float32 atomics, whose order varies), and its dq is as
// accurate as the default's: both within testing.md's rule (F = 3) of the float64 reference. Skipped without
// a GPU, or, with a printed reason, when the built kernels have no bwd_dq_det.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeArray } from '../../src/dtype.js';
import { type AttentionOptions, flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { referenceBackward } from '../support/reference.js';
import { maxError } from '../support/tolerance.js';
import { naiveLowPrecision, reproOf, toleranceFailures } from './accuracy.js';
import { bitsEqual, deterministicKernelsMissing, disposeAll, skipReason } from './gpu.js';

const skip = skipReason || deterministicKernelsMissing();
if (skip && !skipReason) console.log(`# deterministic backward tests skipped: ${skip}`);

const CASES = [
  { dtype: 'bfloat16' as const, n: 1, lq: 1000, lk: 1000, h: 8, hk: 2, d: 128, isCausal: true, windowSize: [-1, -1] as [number, number] },
  { dtype: 'float16' as const, n: 1, lq: 777, lk: 513, h: 4, hk: 2, d: 64, isCausal: false, windowSize: [96, 40] as [number, number] },
  // d = 256: on Hopper the dq pass that reads bwd_pre's D and runs after the main backward (d = 64 / 128 compute D in
  // the dq pass, which runs first).
  { dtype: 'bfloat16' as const, n: 1, lq: 400, lk: 330, h: 2, hk: 1, d: 256, isCausal: true, windowSize: [-1, -1] as [number, number] },
];
const RUNS = 50;

for (const c of CASES) {
  test(`deterministic: ${RUNS} backward runs give bitwise identical dq, dk, dv; dq as accurate as the default's: ${JSON.stringify(c)}`, { skip }, async (t) => {
    const { dtype, n, lq, lk, h, hk, d } = c;
    const q = randn([n, lq, h, d], { seed: 21, dtype, device: 'cuda' });
    const k = randn([n, lk, hk, d], { seed: 22, dtype, device: 'cuda' });
    const v = randn([n, lk, hk, d], { seed: 23, dtype, device: 'cuda' });
    const dout = randn([n, lq, h, d], { seed: 24, dtype, device: 'cuda' });
    const mode: AttentionOptions = { isCausal: c.isCausal, windowSize: c.windowSize };
    const deterministic = { ...mode, deterministic: true };
    const { out, lse } = flashMhaFwd(q, k, v, deterministic);

    let first: { dq: Uint16Array; dk: Uint16Array; dv: Uint16Array } | undefined;
    for (let run = 0; run < RUNS; run++) {
      const g = flashMhaBwd(dout, q, k, v, out, lse, deterministic);
      const now = { dq: (await g.dq.data()) as Uint16Array, dk: (await g.dk.data()) as Uint16Array, dv: (await g.dv.data()) as Uint16Array };
      disposeAll(g.dq, g.dk, g.dv);
      if (!first) first = now;
      else for (const key of ['dq', 'dk', 'dv'] as const) assert.ok(bitsEqual(now[key], first[key]), `${key} differs between run 0 and run ${run}`);
    }

    const g = flashMhaBwd(dout, q, k, v, out, lse, mode);
    const atomicDq = await g.dq.toFloat32Array();
    const det = { dq: decodeArray(first!.dq, dtype), dk: decodeArray(first!.dk, dtype), dv: decodeArray(first!.dv, dtype) };
    const [qf, kf, vf, df] = await Promise.all([q, k, v, dout].map((t) => t.toFloat32Array()));
    const mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / Math.sqrt(d), windowLeft: c.windowSize[0], windowRight: c.isCausal ? 0 : c.windowSize[1], diagonalOffset: lk - lq };
    const exact = referenceBackward(mask, qf, kf, vf, df);
    const naive = naiveLowPrecision(mask, dtype, qf, kf, vf, df);
    const factors = { forward: 2, backward: 3 };
    const failures = [
      ...toleranceFailures(det, exact, naive, dtype, factors).map((f) => `deterministic ${f}`),
      ...toleranceFailures({ dq: atomicDq }, exact, naive, dtype, factors).map((f) => `default ${f}`),
    ];
    assert.deepEqual(failures, [], `seeds 21-24: ${failures.join('; ')}\n  repro: ${reproOf(import.meta.url, t.name)}`);
    console.log(
      `# ${dtype} lq=${lq} lk=${lk} d=${d}: dq error deterministic ${maxError(det.dq, exact.dq).toExponential(2)}, ` +
        `default ${maxError(atomicDq, exact.dq).toExponential(2)}, max |deterministic - default| ${maxError(det.dq, atomicDq).toExponential(2)}`,
    );
    disposeAll(q, k, v, dout, out, lse, g.dq, g.dk, g.dv);
  });
}
