// Rows with no allowed key: o = 0, lse = -Infinity, zero gradient rows, no NaN anywhere; and the
// degenerate lengths lq = 0 and lk = 0 on the GPU.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAllowed } from '../../src/params.js';
import { flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { disposeAll, skipReason } from './gpu.js';

for (const dtype of ['float16', 'bfloat16'] as const) {
  for (const d of [32, 96, 256]) {
    test(`rows with no allowed key give o = 0, lse = -Infinity and zero dq (${dtype}, d=${d})`, { skip: skipReason }, async () => {
      // Causal with lq > lk (bottom-right aligned): rows i < lq - lk see no key; the window of 2 keys to
      // the left makes every other row short but not empty.
      const [n, lq, lk, h, hk] = [2, 150, 60, 2, 1];
      const q = randn([n, lq, h, d], { seed: d, dtype, device: 'cuda' });
      const k = randn([n, lk, hk, d], { seed: d + 1, dtype, device: 'cuda' });
      const v = randn([n, lk, hk, d], { seed: d + 2, dtype, device: 'cuda' });
      const dout = randn([n, lq, h, d], { seed: d + 3, dtype, device: 'cuda' });
      const opts = { isCausal: true, windowSize: [2, -1] as [number, number] };
      const { out, lse } = flashMhaFwd(q, k, v, opts);
      const g = flashMhaBwd(dout, q, k, v, out, lse, opts);
      const [o, l, dq, dk, dv] = await Promise.all([out, lse, g.dq, g.dk, g.dv].map((t) => t.toFloat32Array()));
      for (const [name, values] of Object.entries({ o, lse: l, dq, dk, dv })) {
        assert.ok(!values.some(Number.isNaN), `${name} has NaN`);
      }
      const mask = { windowLeft: 2, windowRight: 0, diagonalOffset: lk - lq };
      let emptyRows = 0;
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < lq; i++) {
          let any = false;
          for (let j = 0; j < lk && !any; j++) any = isAllowed(mask, i, j);
          if (any) continue;
          emptyRows++;
          for (let head = 0; head < h; head++) {
            assert.equal(l[(b * h + head) * lq + i], -Infinity, `lse[${b}, ${head}, ${i}]`);
            const row = ((b * lq + i) * h + head) * d;
            for (let x = 0; x < d; x++) {
              assert.equal(o[row + x], 0, `o[${b}, ${i}, ${head}, ${x}]`);
              assert.equal(dq[row + x], 0, `dq[${b}, ${i}, ${head}, ${x}]`);
            }
          }
        }
      }
      assert.equal(emptyRows, n * (lq - lk));
      disposeAll(q, k, v, dout, out, lse, g.dq, g.dk, g.dv);
    });
  }
}

test('lq = 0 and lk = 0 on the GPU', { skip: skipReason }, async () => {
  const q = randn([2, 9, 2, 64], { dtype: 'float16', device: 'cuda' });
  const none = randn([2, 0, 1, 64], { dtype: 'float16', device: 'cuda' });
  const { out, lse } = flashMhaFwd(q, none, none);
  assert.ok((await out.toFloat32Array()).every((x) => x === 0));
  assert.ok((await lse.toFloat32Array()).every((x) => x === -Infinity));
  const g = flashMhaBwd(q, q, none, none, out, lse);
  assert.ok((await g.dq.toFloat32Array()).every((x) => x === 0));
  const noQueries = randn([2, 0, 2, 64], { dtype: 'float16', device: 'cuda' });
  const kv = randn([2, 5, 1, 64], { dtype: 'float16', device: 'cuda' });
  const r = flashMhaFwd(noQueries, kv, kv);
  assert.equal(r.out.size, 0);
  const g0 = flashMhaBwd(noQueries, noQueries, kv, kv, r.out, r.lse);
  assert.ok((await g0.dk.toFloat32Array()).every((x) => x === 0));
  assert.ok((await g0.dv.toFloat32Array()).every((x) => x === 0));
  disposeAll(q, none, out, lse, g.dq, g.dk, g.dv, noQueries, kv, r.out, r.lse, g0.dq, g0.dk, g0.dv);
});
