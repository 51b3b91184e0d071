/**
 * The float64 reference is itself checked before anything is checked against it: gradients against
 * central finite differences of L = sum(dout * o) on tiny shapes (GQA, masks, empty rows included), and
 * the forward pass against closed forms. The low-precision baseline (Xlp) is checked to be the same
 * function, only rounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalSamples } from '../../src/tensor.js';
import { lowPrecisionAttention } from '../support/lowPrecision.js';
import { type Shape, maskOf } from '../support/problem.js';
import { type Mask, referenceBackward, referenceForward } from '../support/reference.js';
import type { AttentionOptions } from '../../src/params.js';

const sizes = (s: Shape) => ({ q: s.n * s.lq * s.h * s.d, kv: s.n * s.lk * s.hk * s.d });
const random = (count: number, seed: number) => Float64Array.from(normalSamples(count, seed));

function loss(m: Mask, q: Float64Array, k: Float64Array, v: Float64Array, dout: Float64Array): number {
  const { o } = referenceForward(m, q, k, v);
  let sum = 0;
  for (let e = 0; e < o.length; e++) sum += o[e] * dout[e];
  return sum;
}

const FD_CASES: { shape: Shape; options: AttentionOptions; label: string }[] = [
  { shape: { n: 1, lq: 3, lk: 4, h: 1, hk: 1, d: 3 }, options: {}, label: 'plain' },
  { shape: { n: 2, lq: 4, lk: 3, h: 4, hk: 2, d: 2 }, options: { isCausal: true }, label: 'GQA, causal, lq > lk (an empty row)' },
  { shape: { n: 1, lq: 5, lk: 5, h: 3, hk: 1, d: 2 }, options: { windowSize: [1, 0], softmaxScale: 0.7 }, label: 'MQA, window (1, 0), scale 0.7' },
  { shape: { n: 1, lq: 2, lk: 6, h: 2, hk: 2, d: 4 }, options: { windowSize: [2, 1] }, label: 'window (2, 1), lq < lk' },
];

describe('float64 reference', () => {
  for (const c of FD_CASES) {
    it(`gradients match central finite differences: ${c.label}`, () => {
      const m = maskOf(c.shape, c.options);
      const n = sizes(c.shape);
      const inputs = { q: random(n.q, 11), k: random(n.kv, 12), v: random(n.kv, 13) };
      const dout = random(n.q, 14);
      const grads = referenceBackward(m, inputs.q, inputs.k, inputs.v, dout);
      const eps = 1e-5;
      for (const [name, grad] of [['q', grads.dq], ['k', grads.dk], ['v', grads.dv]] as const) {
        const x = inputs[name];
        for (let e = 0; e < x.length; e++) {
          const saved = x[e];
          x[e] = saved + eps;
          const up = loss(m, inputs.q, inputs.k, inputs.v, dout);
          x[e] = saved - eps;
          const down = loss(m, inputs.q, inputs.k, inputs.v, dout);
          x[e] = saved;
          const fd = (up - down) / (2 * eps);
          assert.ok(Math.abs(fd - grad[e]) <= 1e-7 + 1e-6 * Math.abs(fd), `d${name}[${e}]: analytic ${grad[e]}, finite difference ${fd}`);
        }
      }
    });
  }

  it('q = k = 0 gives the mean of the allowed v rows and lse = log(count)', () => {
    const s: Shape = { n: 2, lq: 7, lk: 9, h: 2, hk: 1, d: 5 };
    for (const options of [{}, { isCausal: true }, { windowSize: [2, 1] as const }]) {
      const m = maskOf(s, options);
      const v = random(sizes(s).kv, 21);
      const { o, lse } = referenceForward(m, new Float64Array(sizes(s).q), new Float64Array(sizes(s).kv), v);
      for (let b = 0; b < s.n; b++) {
        for (let head = 0; head < s.h; head++) {
          for (let i = 0; i < s.lq; i++) {
            const keys = [...Array(s.lk).keys()].filter((j) => j >= (m.windowLeft < 0 ? 0 : i + m.diagonalOffset - m.windowLeft) && j <= (m.windowRight < 0 ? s.lk : i + m.diagonalOffset + m.windowRight));
            assert.ok(Math.abs(lse[(b * s.h + head) * s.lq + i] - Math.log(keys.length)) < 1e-14);
            for (let x = 0; x < s.d; x++) {
              const mean = keys.reduce((acc, j) => acc + v[(b * s.lk + j) * s.d + x], 0) / keys.length;
              assert.ok(Math.abs(o[((b * s.lq + i) * s.h + head) * s.d + x] - mean) < 1e-14, `b${b} h${head} i${i} x${x}`);
            }
          }
        }
      }
    }
  });

  it('lk = 1 gives o = v and lse = the single score', () => {
    const s: Shape = { n: 1, lq: 6, lk: 1, h: 3, hk: 3, d: 4 };
    const m = maskOf(s, {});
    const q = random(sizes(s).q, 31);
    const k = random(sizes(s).kv, 32);
    const v = random(sizes(s).kv, 33);
    const { o, lse } = referenceForward(m, q, k, v);
    for (let i = 0; i < s.lq; i++) {
      for (let head = 0; head < s.h; head++) {
        let dot = 0;
        for (let x = 0; x < s.d; x++) {
          assert.equal(o[(i * s.h + head) * s.d + x], v[head * s.d + x]);
          dot += q[(i * s.h + head) * s.d + x] * k[head * s.d + x];
        }
        assert.ok(Math.abs(lse[head * s.lq + i] - dot * m.softmaxScale) < 1e-14);
      }
    }
  });

  it('a hand-computed case: scores 0 and ln 3 give probabilities 1/4 and 3/4', () => {
    const m = maskOf({ n: 1, lq: 1, lk: 2, h: 1, hk: 1, d: 1 }, { softmaxScale: 1 });
    const { o, lse } = referenceForward(m, [1], [0, Math.log(3)], [8, 4]);
    assert.ok(Math.abs(o[0] - (8 / 4 + (3 * 4) / 4)) < 1e-14);
    assert.ok(Math.abs(lse[0] - Math.log(4)) < 1e-14);
  });

  it('permuting keys and values together changes nothing (gradients permute along)', () => {
    const s: Shape = { n: 1, lq: 5, lk: 8, h: 2, hk: 2, d: 3 };
    const m = maskOf(s, {});
    const q = random(sizes(s).q, 41);
    const k = random(sizes(s).kv, 42);
    const v = random(sizes(s).kv, 43);
    const dout = random(sizes(s).q, 44);
    const perm = [3, 7, 0, 5, 1, 6, 2, 4];
    const row = s.hk * s.d;
    const permute = (t: Float64Array) => {
      const out = new Float64Array(t.length);
      perm.forEach((from, to) => out.set(t.subarray(from * row, (from + 1) * row), to * row));
      return out;
    };
    const a = referenceForward(m, q, k, v);
    const b = referenceForward(m, q, permute(k), permute(v));
    for (let e = 0; e < a.o.length; e++) assert.ok(Math.abs(a.o[e] - b.o[e]) < 1e-14);
    for (let e = 0; e < a.lse.length; e++) assert.ok(Math.abs(a.lse[e] - b.lse[e]) < 1e-14);
    const ga = referenceBackward(m, q, k, v, dout);
    const gb = referenceBackward(m, q, permute(k), permute(v), dout);
    for (let e = 0; e < ga.dq.length; e++) assert.ok(Math.abs(ga.dq[e] - gb.dq[e]) < 1e-14);
    const dkPermuted = permute(ga.dk);
    const dvPermuted = permute(ga.dv);
    for (let e = 0; e < gb.dk.length; e++) {
      assert.ok(Math.abs(dkPermuted[e] - gb.dk[e]) < 1e-14);
      assert.ok(Math.abs(dvPermuted[e] - gb.dv[e]) < 1e-14);
    }
  });
});

describe('low-precision baseline (Xlp)', () => {
  const s: Shape = { n: 2, lq: 9, lk: 13, h: 4, hk: 2, d: 6 };
  const m = maskOf(s, { windowSize: [4, 2] });
  const q = random(sizes(s).q, 51);
  const k = random(sizes(s).kv, 52);
  const v = random(sizes(s).kv, 53);
  const dout = random(sizes(s).q, 54);
  const ref = { ...referenceForward(m, q, k, v), ...referenceBackward(m, q, k, v, dout) };

  it('in float32 it is the reference up to float32 rounding', () => {
    const lp = lowPrecisionAttention(m, 'float32', q, k, v, dout);
    for (const name of ['o', 'lse', 'dq', 'dk', 'dv'] as const) {
      for (let e = 0; e < lp[name].length; e++) {
        const want = ref[name][e];
        if (want === -Infinity) assert.equal(lp[name][e], -Infinity);
        else assert.ok(Math.abs(lp[name][e] - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${name}[${e}] ${lp[name][e]} vs ${want}`);
      }
    }
  });

  it('in float16 and bfloat16 its values are representable and its error is that of the dtype', () => {
    for (const [dtype, unit] of [['float16', 2 ** -11], ['bfloat16', 2 ** -8]] as const) {
      const lp = lowPrecisionAttention(m, dtype, q, k, v, dout);
      for (const name of ['o', 'dq', 'dk', 'dv'] as const) {
        let maxRef = 0;
        let maxErr = 0;
        for (let e = 0; e < lp[name].length; e++) {
          maxRef = Math.max(maxRef, Math.abs(ref[name][e]));
          maxErr = Math.max(maxErr, Math.abs(lp[name][e] - ref[name][e]));
        }
        assert.ok(maxErr > 0, `${dtype} ${name}: a low-precision baseline must not be exact`);
        assert.ok(maxErr < 64 * unit * maxRef, `${dtype} ${name}: error ${maxErr} is not of the dtype's size (max ${maxRef})`);
      }
    }
  });
});
