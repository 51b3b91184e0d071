import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { referenceBackward, referenceForward } from '../support/reference.js';

test('cpu float32 matches the float64 reference on a small causal GQA case', async () => {
  const [n, lq, lk, h, hk, d] = [2, 70, 130, 4, 2, 16];
  const q = randn([n, lq, h, d], { seed: 1 });
  const k = randn([n, lk, hk, d], { seed: 2 });
  const v = randn([n, lk, hk, d], { seed: 3 });
  const dout = randn([n, lq, h, d], { seed: 4 });
  const opts = { isCausal: true, windowSize: [20, -1] as [number, number] };
  const { out, lse } = flashMhaFwd(q, k, v, opts);
  const g = flashMhaBwd(dout, q, k, v, out, lse, opts);
  const mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / Math.sqrt(d), windowLeft: 20, windowRight: 0, diagonalOffset: lk - lq };
  const ref = referenceForward(mask, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array());
  const refG = referenceBackward(mask, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array(), await dout.toFloat32Array());
  const maxErr = (a: Float32Array, b: Float64Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  const o = await out.toFloat32Array();
  assert.ok(maxErr(o, ref.o) < 1e-5, `o ${maxErr(o, ref.o)}`);
  const l = await lse.toFloat32Array();
  for (let i = 0; i < l.length; i++) assert.ok(l[i] === ref.lse[i] || Math.abs(l[i] - ref.lse[i]) < 1e-5);
  for (const key of ['dq', 'dk', 'dv'] as const) {
    const e = maxErr(await g[key].toFloat32Array(), refG[key]);
    assert.ok(e < 1e-5, `${key} ${e}`);
  }
});
