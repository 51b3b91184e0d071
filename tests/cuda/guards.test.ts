// Outputs pre-filled with NaN and surrounded by NaN guard margins: afterwards no NaN may remain inside
// (every element written) and the margins must be untouched (no out-of-bounds write). The same cases are
// checked against the float64 reference with the tolerance rule.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setGuardBytesForTesting } from '../../src/backend/cuda/storage.js';
import { flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { referenceBackward, referenceForward } from '../support/reference.js';
import { naiveLowPrecision, reproOf, toleranceFailures } from './accuracy.js';
import { disposeAll, outputValues, skipReason, storageOf } from './gpu.js';

const GUARD_BYTES = 4096;

before(() => {
  if (!skipReason) setGuardBytesForTesting(GUARD_BYTES);
});
after(() => {
  if (!skipReason) setGuardBytesForTesting(0);
});

const CASES = [
  { lq: 113, lk: 203, h: 4, hk: 2, isCausal: true, windowSize: [-1, -1] as [number, number] },
  // lq > lk with a causal window: the first rows see no key at all.
  { lq: 203, lk: 113, h: 3, hk: 1, isCausal: true, windowSize: [17, -1] as [number, number] },
];

for (const dtype of ['float16', 'bfloat16'] as const) {
  for (const d of [40, 64, 128, 256]) {
    for (const [index, c] of CASES.entries()) {
      const name = `${dtype} d=${d} case ${index} (lq=${c.lq}, lk=${c.lk}, h=${c.h}/${c.hk}, window=${c.windowSize}, causal)`;
      test(`NaN pre-fill and guard margins: ${name}`, { skip: skipReason }, async (t) => {
        const seed = 1000 * d + 10 * index + (dtype === 'float16' ? 0 : 5);
        const q = randn([1, c.lq, c.h, d], { seed, dtype, device: 'cuda' });
        const k = randn([1, c.lk, c.hk, d], { seed: seed + 1, dtype, device: 'cuda' });
        const v = randn([1, c.lk, c.hk, d], { seed: seed + 2, dtype, device: 'cuda' });
        const dout = randn([1, c.lq, c.h, d], { seed: seed + 3, dtype, device: 'cuda' });
        const opts = { isCausal: c.isCausal, windowSize: c.windowSize };
        const { out, lse } = flashMhaFwd(q, k, v, opts);
        const g = flashMhaBwd(dout, q, k, v, out, lse, opts);
        const got = await outputValues({ out, lse }, g);
        for (const [key, values] of Object.entries(got)) {
          assert.ok(!values.some(Number.isNaN), `${key}: NaN left (an element was not written)`);
        }
        for (const [key, t] of Object.entries({ out, lse, dq: g.dq, dk: g.dk, dv: g.dv })) {
          assert.ok(await storageOf(t).guardsIntact(), `${key}: a guard margin was overwritten`);
        }
        const [qf, kf, vf, df] = [await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array(), await dout.toFloat32Array()];
        const mask = { n: 1, lq: c.lq, lk: c.lk, h: c.h, hk: c.hk, d, softmaxScale: 1 / Math.sqrt(d), windowLeft: c.windowSize[0], windowRight: 0, diagonalOffset: c.lk - c.lq };
        const exact = { ...referenceForward(mask, qf, kf, vf), ...referenceBackward(mask, qf, kf, vf, df) };
        const failures = toleranceFailures(got, exact, naiveLowPrecision(mask, dtype, qf, kf, vf, df), dtype, { forward: 2, backward: 3 });
        assert.deepEqual(failures, [], `seed ${seed}: ${failures.join('; ')}\n  repro: ${reproOf(import.meta.url, t.name)}`);
        disposeAll(q, k, v, dout, out, lse, g.dq, g.dk, g.dv);
      });
    }
  }
}
