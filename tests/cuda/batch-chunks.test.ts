// Calls the host reshapes before launching, checked on the GPU against the float64 reference: more than 65535
// batch entries (launched in chunks of at most 65535, each on its entries of every tensor: batch-chunks.ts), and a
// window wider than the sequences (sent to the kernels as unbounded: kernel-problem.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AttentionOptions, flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { referenceBackward, referenceForward } from '../support/reference.js';
import { naiveLowPrecision, reproOf, toleranceFailures } from './accuracy.js';
import { deterministicKernelsMissing, disposeAll, outputValues, skipReason } from './gpu.js';

interface Call {
  shape: [n: number, lq: number, lk: number, h: number, hk: number, d: number];
  options: AttentionOptions;
  /** The window the reference applies: the call's, with isCausal as right = 0. */
  window: [number, number];
}

const CALLS: Record<string, Call> = {
  // Causal with lq > lk: the first query of each entry sees no key.
  'n = 65537 (two launches), causal, lq > lk, GQA, d = 8': { shape: [65537, 3, 2, 2, 1, 8], options: { isCausal: true }, window: [-1, 0] },
  'a window of 2^31 left and 2^40 right on lq = 200, lk = 300': { shape: [1, 200, 300, 4, 2, 128], options: { windowSize: [2 ** 31, 2 ** 40] }, window: [2 ** 31, 2 ** 40] },
  'a window of 2^31 left, 5 right': { shape: [1, 200, 300, 4, 2, 128], options: { windowSize: [2 ** 31, 5] }, window: [2 ** 31, 5] },
};

for (const [name, c] of Object.entries(CALLS)) {
  for (const deterministic of [false, true]) {
    const skip = skipReason || (deterministic && deterministicKernelsMissing());
    test(`${name}${deterministic ? ', deterministic' : ''}: o, lse, dq, dk, dv within the rule`, { skip }, async (t) => {
      const [n, lq, lk, h, hk, d] = c.shape;
      const dtype = 'bfloat16';
      const seed = 900 + n + d;
      const q = randn([n, lq, h, d], { seed, dtype, device: 'cuda' });
      const k = randn([n, lk, hk, d], { seed: seed + 1, dtype, device: 'cuda' });
      const v = randn([n, lk, hk, d], { seed: seed + 2, dtype, device: 'cuda' });
      const dout = randn([n, lq, h, d], { seed: seed + 3, dtype, device: 'cuda' });
      const options = { ...c.options, deterministic };
      const { out, lse } = flashMhaFwd(q, k, v, options);
      const g = flashMhaBwd(dout, q, k, v, out, lse, options);
      const got = await outputValues({ out, lse }, g);
      const [qf, kf, vf, df] = await Promise.all([q, k, v, dout].map((x) => x.toFloat32Array()));
      const mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / Math.sqrt(d), windowLeft: c.window[0], windowRight: c.window[1], diagonalOffset: lk - lq };
      const exact = { ...referenceForward(mask, qf, kf, vf), ...referenceBackward(mask, qf, kf, vf, df) };
      const failures = toleranceFailures(got, exact, naiveLowPrecision(mask, dtype, qf, kf, vf, df), dtype, { forward: 2, backward: 3 });
      assert.deepEqual(failures, [], `seeds ${seed}-${seed + 3}: ${failures.join('; ')}\n  repro: ${reproOf(import.meta.url, t.name)}`);
      disposeAll(q, k, v, dout, out, lse, g.dq, g.dk, g.dv);
    });
  }
}
