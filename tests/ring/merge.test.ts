import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { mergeLse, mergePartials } from '../../src/ring/merge.js';

test('mergeLse: both sides -Infinity give lse -Infinity and zero weights, never NaN', () => {
  assert.deepEqual(mergeLse(-Infinity, -Infinity), [-Infinity, 0, 0]);
});

test('mergeLse: one side -Infinity leaves the other unchanged', () => {
  assert.deepEqual(mergeLse(-Infinity, 2.5), [2.5, 0, 1]);
  assert.deepEqual(mergeLse(-3, -Infinity), [-3, 1, 0]);
});

test('mergeLse: equal sides add log 2 and split the weight evenly', () => {
  const [lse, wa, wb] = mergeLse(1, 1);
  assert.ok(Math.abs(lse - (1 + Math.LN2)) < 1e-15);
  assert.ok(Math.abs(wa - 0.5) < 1e-15 && wa === wb);
});

test('mergeLse: large magnitudes do not overflow; weights sum to 1', () => {
  fc.assert(
    fc.property(fc.double({ min: -1e4, max: 1e4, noNaN: true }), fc.double({ min: -1e4, max: 1e4, noNaN: true }), (a, b) => {
      const [lse, wa, wb] = mergeLse(a, b);
      return Number.isFinite(lse) && lse >= Math.max(a, b) && Math.abs(wa + wb - 1) < 1e-12;
    }),
    { seed: 1, numRuns: 500 },
  );
});

/** Partial (o, lse) of one row over a set of scored keys: the definition, in float64. */
function partial(scores: number[], values: number[][]): { o: number[]; lse: number } {
  if (scores.length === 0) return { o: values[0]?.map(() => 0) ?? [0, 0], lse: -Infinity };
  const m = Math.max(...scores);
  const sum = scores.reduce((acc, s) => acc + Math.exp(s - m), 0);
  const lse = m + Math.log(sum);
  const o = values[0].map((_, x) => scores.reduce((acc, s, j) => acc + Math.exp(s - lse) * values[j][x], 0));
  return { o, lse };
}

test('mergePartials of two disjoint key sets equals attention over their union', () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 0, maxLength: 6 }),
      fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 0, maxLength: 6 }),
      (sa, sb) => {
        const d = 2;
        const vals = [...sa, ...sb].map((s, j) => [Math.sin(j + s), Math.cos(3 * j)]);
        const a = partial(sa, vals.slice(0, sa.length).length ? vals.slice(0, sa.length) : [[0, 0]]);
        const b = partial(sb, vals.slice(sa.length).length ? vals.slice(sa.length) : [[0, 0]]);
        const whole = partial([...sa, ...sb], vals.length ? vals : [[0, 0]]);
        const accOut = Float32Array.from(a.o);
        const accLse = Float32Array.of(a.lse);
        mergePartials(accOut, accLse, Float32Array.from(b.o), Float32Array.of(b.lse), 1, 1, 1, d);
        if (whole.lse === -Infinity) return accLse[0] === -Infinity && accOut.every((x) => x === 0);
        return Math.abs(accLse[0] - whole.lse) <= 1e-5 * Math.max(1, Math.abs(whole.lse)) && accOut.every((x, i) => Math.abs(x - whole.o[i]) <= 1e-5);
      },
    ),
    { seed: 2, numRuns: 300 },
  );
});

test('mergePartials keeps an all-masked row at o = 0, lse = -Infinity, and respects the [n, l, h, d] / [n, h, l] layouts', () => {
  // n = 1, l = 2, h = 2, d = 1: out index (i * h + head), lse index (head * l + i).
  const accOut = new Float32Array([0, 5, 0, 7]);
  const accLse = new Float32Array([-Infinity, -Infinity, 1, 0]); // (head 0: rows 0, 1), (head 1: rows 0, 1)
  const partOut = new Float32Array([0, 0, 3, 9]);
  const partLse = new Float32Array([-Infinity, 0, -Infinity, 0]);
  mergePartials(accOut, accLse, partOut, partLse, 1, 2, 2, 1);
  // head 0 row 0: both -Infinity
  assert.equal(accOut[0], 0);
  assert.equal(accLse[0], -Infinity);
  // head 0 row 1: only the part
  assert.equal(accOut[2], 3);
  assert.equal(accLse[1], 0);
  // head 1 row 0: only the accumulator
  assert.equal(accOut[1], 5);
  assert.equal(accLse[2], 1);
  // head 1 row 1: equal lse 0 and 0 -> mean of 7 and 9
  assert.ok(Math.abs(accOut[3] - 8) < 1e-6);
  assert.ok(Math.abs(accLse[3] - Math.LN2) < 1e-6);
  assert.ok(!accOut.some(Number.isNaN));
});
