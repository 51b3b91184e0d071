/**
 * Mask semantics, exhaustively on small sizes: every lq, lk in 0..6, every window side in -1..6, causal
 * or not. The expected pattern is written out from semantics.md; the CPU backend's pattern is observed
 * through the outputs (q = 0 makes P uniform over the allowed keys, v = identity exposes which ones:
 * o[i][j] = 1/count_i exactly where key j is allowed), and the reference's isAllowed is checked too.
 */
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import type { AttentionProblem } from '../../src/backend.js';
import { kernelProblem } from '../../src/backend/cuda/kernel-problem.js';
import { flashMhaBwd, flashMhaFwd, tensor } from '../../src/index.js';
import { isAllowed } from '../../src/params.js';
import { referenceForward } from '../support/reference.js';

const SIZES = [0, 1, 2, 3, 4, 5, 6];
const SIDES = [-1, 0, 1, 2, 3, 4, 5, 6];

/** semantics.md: off = lk - lq; allowed iff (left < 0 or j >= i + off - left) and (right < 0 or j <= i + off + right). */
function definition(lq: number, lk: number, left: number, right: number, isCausal: boolean): boolean[][] {
  const off = lk - lq;
  const r = isCausal ? 0 : right;
  return Array.from({ length: lq }, (_, i) =>
    Array.from({ length: lk }, (_, j) => (left < 0 || j >= i + off - left) && (r < 0 || j <= i + off + r)),
  );
}

const show = (m: boolean[][]) => m.map((row) => row.map((a) => (a ? 1 : 0)).join(' ')).join(' | ');

/** Runs forward and backward on the CPU and reads the allowed pattern and the column sums of P back. */
async function observe(lq: number, lk: number, windowSize: [number, number], isCausal: boolean) {
  const d = Math.max(lk, 1);
  const identity = new Float32Array(lk * d);
  for (let j = 0; j < lk; j++) identity[j * d + j] = 1;
  const q = tensor(new Float32Array(lq * d), [1, lq, 1, d]);
  const k = tensor(new Float32Array(lk * d).fill(0.5), [1, lk, 1, d]);
  const v = tensor(identity, [1, lk, 1, d]);
  const dout = tensor(new Float32Array(lq * d).fill(1), [1, lq, 1, d]);
  const options = { windowSize, isCausal };
  const { out, lse } = flashMhaFwd(q, k, v, options);
  const g = flashMhaBwd(dout, q, k, v, out, lse, options);
  const result = { o: await out.toFloat32Array(), lse: await lse.toFloat32Array(), dv: await g.dv.toFloat32Array(), d };
  for (const t of [q, k, v, dout, out, lse, g.dq, g.dk, g.dv]) t.dispose();
  return result;
}

describe('mask semantics', () => {
  it('the example of semantics.md: lq = 2, lk = 5 causal gives rows 1 1 1 1 0 and 1 1 1 1 1', async () => {
    assert.equal(show(definition(2, 5, -1, -1, true)), '1 1 1 1 0 | 1 1 1 1 1');
    const { o, d } = await observe(2, 5, [-1, -1], true);
    const seen = [0, 1].map((i) => Array.from({ length: 5 }, (_, j) => (o[i * d + j] > 0 ? 1 : 0)).join(' '));
    assert.deepEqual(seen, ['1 1 1 1 0', '1 1 1 1 1']);
    assert.equal(o[0], Math.fround(1 / 4));
    assert.equal(o[d], Math.fround(1 / 5));
  });

  it('a window of 0 is the diagonal only, not unbounded; windows are inclusive', () => {
    assert.equal(show(definition(3, 3, 0, 0, false)), '1 0 0 | 0 1 0 | 0 0 1');
    assert.equal(show(definition(3, 3, 1, 1, false)), '1 1 0 | 1 1 1 | 0 1 1');
    assert.equal(show(definition(2, 4, 1, -1, false)), '0 1 1 1 | 0 0 1 1');
    assert.equal(show(definition(4, 2, -1, 0, false)), '0 0 | 0 0 | 1 0 | 1 1', 'bottom-right: rows above the diagonal are empty');
  });

  it('the CPU backend and the reference mask match the definition for every lq, lk in 0..6, windows in -1..6, causal or not', async () => {
    let checked = 0;
    for (const lq of SIZES) {
      for (const lk of SIZES) {
        for (const left of SIDES) {
          for (const right of SIDES) {
            for (const isCausal of [false, true]) {
              const want = definition(lq, lk, left, right, isCausal);
              const where = `lq ${lq} lk ${lk} windowSize [${left}, ${right}] isCausal ${isCausal}`;
              const mask = { windowLeft: left, windowRight: isCausal ? 0 : right, diagonalOffset: lk - lq };
              const { o, lse, dv, d } = await observe(lq, lk, [left, right], isCausal);
              const columnSums = new Float64Array(lk);
              for (let i = 0; i < lq; i++) {
                const count = want[i].filter(Boolean).length;
                for (let j = 0; j < lk; j++) {
                  assert.equal(isAllowed(mask, i, j), want[i][j], `isAllowed ${where} i ${i} j ${j}`);
                  const expected = want[i][j] ? Math.fround(1 / count) : 0;
                  assert.equal(o[i * d + j], expected, `o ${where}: row ${i} key ${j}; want ${show(want)}`);
                  if (want[i][j]) columnSums[j] += 1 / count;
                }
                assert.equal(lse[i], count === 0 ? -Infinity : Math.fround(Math.log(count)), `lse ${where} row ${i}`);
              }
              // dv = P^T dout with dout = 1: each key collects the probabilities it received
              for (let j = 0; j < lk; j++) {
                for (let x = 0; x < d; x++) {
                  assert.ok(Math.abs(dv[j * d + x] - columnSums[j]) <= 1e-6, `dv ${where} key ${j}: ${dv[j * d + x]} vs ${columnSums[j]}`);
                }
              }
              checked++;
            }
          }
        }
      }
    }
    assert.equal(checked, 7 * 7 * 8 * 8 * 2);
  });

  it('the float64 reference applies the same masks', () => {
    for (const lq of SIZES) {
      for (const lk of SIZES) {
        for (const [left, right, isCausal] of [[-1, -1, true], [0, 0, false], [2, -1, false], [-1, 1, false], [1, 3, true]] as const) {
          const d = Math.max(lk, 1);
          const v = new Float64Array(lk * d);
          for (let j = 0; j < lk; j++) v[j * d + j] = 1;
          const m = { n: 1, lq, lk, h: 1, hk: 1, d, softmaxScale: 1, windowLeft: left, windowRight: isCausal ? 0 : right, diagonalOffset: lk - lq };
          const ref = referenceForward(m, new Float64Array(lq * d), new Float64Array(lk * d), v);
          const want = definition(lq, lk, left, right, isCausal);
          for (let i = 0; i < lq; i++) {
            const count = want[i].filter(Boolean).length;
            for (let j = 0; j < lk; j++) assert.ok(Math.abs(ref.o[i * d + j] - (want[i][j] ? 1 / count : 0)) < 1e-15, `reference lq ${lq} lk ${lk} [${left}, ${right}] ${isCausal} row ${i} key ${j}`);
            assert.equal(ref.lse[i], count ? Math.log(count) : -Infinity);
          }
        }
      }
    }
  });
});

test("the CUDA backend's kernel problem: a window side made unbounded only where every pair already met it", () => {
  let checked = 0;
  const sides = [-1, 0, 1, 2, 3, 5, 8, 13, 2 ** 31, Number.MAX_SAFE_INTEGER];
  for (let lq = 0; lq <= 6; lq++) {
    for (let lk = 0; lk <= 6; lk++) {
      // Ring calls give any diagonal offset, not only lk - lq.
      for (const diagonalOffset of [lk - lq, -7, -3, 0, 4, 9]) {
        for (const windowLeft of sides) {
          for (const windowRight of sides) {
            const p = { windowLeft, windowRight, diagonalOffset, lq, lk } as AttentionProblem;
            const kp = kernelProblem(p);
            assert.ok(kp.windowLeft === -1 || kp.windowLeft === windowLeft, 'left kept or unbounded');
            assert.ok(kp.windowRight === -1 || kp.windowRight === windowRight, 'right kept or unbounded');
            assert.ok(kp.windowLeft < 2 ** 31 && kp.windowRight < 2 ** 31 || lq + lk > 2 ** 31, 'fits 32 bits');
            for (let i = 0; i < lq; i++) {
              for (let j = 0; j < lk; j++) {
                assert.equal(isAllowed(kp, i, j), isAllowed(p, i, j), `lq ${lq} lk ${lk} off ${diagonalOffset} window (${windowLeft}, ${windowRight}) i ${i} j ${j}`);
                checked++;
              }
            }
          }
        }
      }
    }
  }
  assert.ok(checked > 100000, `${checked} pairs`);
});
