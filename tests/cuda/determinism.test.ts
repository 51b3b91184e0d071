// Forward results (o, lse) and the key/value gradients are bitwise identical across repeated runs; a
// difference is a race.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { bitsEqual, disposeAll, skipReason } from './gpu.js';

const CASES = [
  { dtype: 'bfloat16' as const, n: 2, l: 1024, h: 6, hk: 2, d: 128, isCausal: true },
  { dtype: 'float16' as const, n: 1, l: 777, h: 4, hk: 4, d: 64, isCausal: false },
  { dtype: 'float16' as const, n: 1, l: 300, h: 2, hk: 1, d: 256, isCausal: true },
];
const RUNS = 4;

for (const c of CASES) {
  test(`repeated runs are bitwise identical: ${JSON.stringify(c)}`, { skip: skipReason }, async () => {
    const q = randn([c.n, c.l, c.h, c.d], { seed: 11, dtype: c.dtype, device: 'cuda' });
    const k = randn([c.n, c.l, c.hk, c.d], { seed: 12, dtype: c.dtype, device: 'cuda' });
    const v = randn([c.n, c.l, c.hk, c.d], { seed: 13, dtype: c.dtype, device: 'cuda' });
    const dout = randn([c.n, c.l, c.h, c.d], { seed: 14, dtype: c.dtype, device: 'cuda' });
    const opts = { isCausal: c.isCausal };
    let first: { o: ArrayBufferView; lse: ArrayBufferView; dk: ArrayBufferView; dv: ArrayBufferView } | undefined;
    for (let run = 0; run < RUNS; run++) {
      const { out, lse } = flashMhaFwd(q, k, v, opts);
      const g = flashMhaBwd(dout, q, k, v, out, lse, opts);
      const now = { o: await out.data(), lse: await lse.data(), dk: await g.dk.data(), dv: await g.dv.data() };
      if (!first) first = now;
      else for (const key of ['o', 'lse', 'dk', 'dv'] as const) assert.ok(bitsEqual(now[key], first[key]), `${key} differs between run 0 and run ${run}`);
      disposeAll(out, lse, g.dq, g.dk, g.dv);
    }
    disposeAll(q, k, v, dout);
  });
}
