// Inputs large enough to overflow a float16 dot product or exp done naively (q x5, k and v x3): the
// result stays finite and within the tolerance rule with F = 5.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { referenceBackward, referenceForward } from '../support/reference.js';
import { naiveLowPrecision, reproOf, toleranceFailures } from './accuracy.js';
import { disposeAll, outputValues, skipReason } from './gpu.js';

for (const d of [64, 128]) {
  for (const isCausal of [false, true]) {
    test(`float16 overflow regression, q x5, k and v x3 (d=${d}, causal=${isCausal})`, { skip: skipReason }, async (t) => {
      const [n, lq, lk, h, hk] = [1, 160, 200, 2, 1];
      const seed = 77 + d;
      const q = randn([n, lq, h, d], { seed, scale: 5, dtype: 'float16', device: 'cuda' });
      const k = randn([n, lk, hk, d], { seed: seed + 1, scale: 3, dtype: 'float16', device: 'cuda' });
      const v = randn([n, lk, hk, d], { seed: seed + 2, scale: 3, dtype: 'float16', device: 'cuda' });
      const dout = randn([n, lq, h, d], { seed: seed + 3, dtype: 'float16', device: 'cuda' });
      const { out, lse } = flashMhaFwd(q, k, v, { isCausal });
      const g = flashMhaBwd(dout, q, k, v, out, lse, { isCausal });
      const got = await outputValues({ out, lse }, g);
      for (const [key, values] of Object.entries(got)) assert.ok(values.every(Number.isFinite), `${key}: not finite`);
      const [qf, kf, vf, df] = [await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array(), await dout.toFloat32Array()];
      const mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / Math.sqrt(d), windowLeft: -1, windowRight: isCausal ? 0 : -1, diagonalOffset: lk - lq };
      const exact = { ...referenceForward(mask, qf, kf, vf), ...referenceBackward(mask, qf, kf, vf, df) };
      const failures = toleranceFailures(got, exact, naiveLowPrecision(mask, 'float16', qf, kf, vf, df), 'float16', { forward: 5, backward: 5 });
      assert.deepEqual(failures, [], `seed ${seed}: ${failures.join('; ')}\n  repro: ${reproOf(import.meta.url, t.name)}`);
      disposeAll(q, k, v, dout, out, lse, g.dq, g.dk, g.dv);
    });
  }
}
