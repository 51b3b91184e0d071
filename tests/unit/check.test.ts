// src/check.ts, the demo's row checks: a row over any number of keys, and a tolerance rule that an overflowed
// low-precision baseline cannot satisfy by default.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttentionProblem } from '../../src/backend.js';
import { attentionRow, toleranceRule } from '../../src/check.js';

test('attentionRow takes a row over 200000 keys (the max of its scores is not spread into Math.max)', () => {
  const lk = 200_000;
  const p = { n: 1, lq: 1, lk, h: 1, hk: 1, d: 1, softmaxScale: 1, windowLeft: -1, windowRight: -1, diagonalOffset: lk - 1 } as AttentionProblem;
  const keys = new Float32Array(lk).fill(0);
  keys[7] = 5;
  const values = Float32Array.from({ length: lk }, (_, j) => j);
  const row = attentionRow(p, { q: Float32Array.of(1), k: keys, v: values, dout: Float32Array.of(1) }, 0, 0, 0, (x) => x);
  const expectedLse = Math.log(lk - 1 + Math.exp(5));
  assert.ok(Math.abs(row.lse - expectedLse) < 1e-9, `lse ${row.lse}, expected ${expectedLse}`);
});

test('toleranceRule: a low-precision baseline that is not finite bounds nothing', () => {
  assert.equal(toleranceRule([123456], [Infinity], [70000], 'float16', 2).ok, false);
  assert.equal(toleranceRule([70000], [NaN], [70000], 'float16', 2).ok, false);
  assert.equal(toleranceRule([70000], [70001], [70000], 'float16', 2).ok, true);
});
