/**
 * Seeded fast-check properties of attention on every test device and dtype: rows of P sum to 1 (through
 * a constant column of v and through lse), o lies in the convex hull of the allowed v rows, grouped-query
 * attention equals multi-head attention with repeated k/v, and causal row i ignores every key after its
 * diagonal, in the forward and in the backward. Shapes cross the CPU tile size (64) so partial and masked tiles are exercised.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { flashMhaBwd, flashMhaFwd } from '../../src/index.js';
import { type Dtype, ulp } from '../../src/dtype.js';
import type { AttentionOptions } from '../../src/params.js';
import { isAllowed } from '../../src/params.js';
import { dtypesFor, testDevices } from '../support/devices.js';
import { type HostValues, hostValues, inputSeeds, randomValues, upload } from '../support/inputs.js';
import { type Shape, kvShape, maskOf, qShape } from '../support/problem.js';
import { maxAbs } from '../support/tolerance.js';

const SEED = 424242;
const RUNS = 80;

interface Case extends Shape {
  dtype: Dtype;
  options: AttentionOptions;
  seed: number;
}

function caseArbitrary(dtypes: Dtype[], maxLength: number): fc.Arbitrary<Case> {
  return fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      lq: fc.integer({ min: 1, max: maxLength }),
      lk: fc.integer({ min: 1, max: maxLength }),
      hk: fc.integer({ min: 1, max: 2 }),
      group: fc.constantFrom(1, 2, 3),
      d: fc.integer({ min: 1, max: 24 }),
      dtype: fc.constantFrom(...dtypes),
      left: fc.integer({ min: -1, max: maxLength }),
      right: fc.integer({ min: -1, max: maxLength }),
      isCausal: fc.boolean(),
      seed: fc.nat(),
    })
    .map((r) => ({
      n: r.n, lq: r.lq, lk: r.lk, h: r.hk * r.group, hk: r.hk, d: r.d, dtype: r.dtype, seed: r.seed,
      options: { isCausal: r.isCausal, windowSize: [r.left, r.right] as const },
    }));
}

const rowOf = (b: number, i: number, head: number, l: number, heads: number, d: number) => ((b * l + i) * heads + head) * d;

/** Tolerance for a value of magnitude `scale` produced by one rounding plus low-precision P (GPU). */
const closeTo = (dtype: Dtype, scale: number) => (dtype === 'float32' ? 1e-5 * Math.max(scale, 1) : 2 * ulp(dtype, scale));

async function forward(device: string, c: Case, qh: HostValues, kh: HostValues, vh: HostValues) {
  using q = upload(qh, device);
  using k = upload(kh, device);
  using v = upload(vh, device);
  const { out, lse } = flashMhaFwd(q, k, v, c.options);
  const result = { o: await out.toFloat32Array(), lse: await lse.toFloat32Array() };
  out.dispose();
  lse.dispose();
  return result;
}

/**
 * A causal case (keeping c0's left window) with its row i (rowPick mod lq), inputs, and the first key row i may not
 * see: every key from there on lies after row i's diagonal.
 */
function causalCase(c0: Case, rowPick: number) {
  const left = c0.options.windowSize?.[0] ?? -1;
  const c: Case = { ...c0, options: { isCausal: true, windowSize: [left, -1] } };
  const i = rowPick % c.lq;
  const s = inputSeeds(c.seed);
  const [qh, kh, vh] = [randomValues(qShape(c), c.dtype, s.q), randomValues(kvShape(c), c.dtype, s.k), randomValues(kvShape(c), c.dtype, s.v)];
  return { c, i, s, qh, kh, vh, firstUnseen: Math.max(0, i + c.lk - c.lq + 1) };
}

/** The gradients of one call, in the deterministic mode (dq bit for bit too on a GPU). */
async function gradients(device: string, c: Case, qh: HostValues, kh: HostValues, vh: HostValues, douth: HostValues) {
  const options = { ...c.options, deterministic: true };
  using q = upload(qh, device);
  using k = upload(kh, device);
  using v = upload(vh, device);
  using dout = upload(douth, device);
  const { out, lse } = flashMhaFwd(q, k, v, options);
  const g = flashMhaBwd(dout, q, k, v, out, lse, options);
  const result = { dq: await g.dq.toFloat32Array(), dk: await g.dk.toFloat32Array(), dv: await g.dv.toFloat32Array() };
  for (const t of [out, lse, g.dq, g.dk, g.dv]) t.dispose();
  return result;
}

/** `t` ([n, rows, heads, d]) with its rows from..to - 1 of every batch entry replaced by other samples. */
function changedRows(t: HostValues, c: Case, from: number, to: number, seed: number): HostValues {
  const [, rows, heads] = t.shape;
  const noise = randomValues(t.shape, c.dtype, seed, 3).values;
  const values = Float32Array.from(t.values);
  for (let b = 0; b < c.n; b++) {
    for (let r = from; r < to; r++) {
      for (let e = rowOf(b, r, 0, rows, heads, c.d); e < rowOf(b, r + 1, 0, rows, heads, c.d); e++) values[e] = noise[e];
    }
  }
  return hostValues(values, t.shape, c.dtype);
}

/** Asserts rows from..to - 1 of every batch entry of `a` and `b` ([n, rows, heads, d]) equal bit for bit. */
function sameRows(name: string, a: Float32Array, b: Float32Array, c: Case, shape: readonly number[], from: number, to: number) {
  const [, rows, heads] = shape;
  for (let bi = 0; bi < c.n; bi++) {
    for (let r = from; r < to; r++) {
      for (let e = rowOf(bi, r, 0, rows, heads, c.d); e < rowOf(bi, r + 1, 0, rows, heads, c.d); e++) {
        assert.ok(Object.is(a[e], b[e]), `${name} b${bi} row${r} element ${e} changed: ${a[e]} -> ${b[e]}`);
      }
    }
  }
}

for (const device of testDevices()) {
  const dtypes = dtypesFor(device);
  describe(`properties on ${device}`, () => {
    it('rows of P sum to 1: a constant column of v comes out as 1, and sum_j exp(s_ij - lse_i) = 1', async () => {
      await fc.assert(
        fc.asyncProperty(caseArbitrary(dtypes, 150), async (c) => {
          const s = inputSeeds(c.seed);
          const qh = randomValues(qShape(c), c.dtype, s.q);
          const kh = randomValues(kvShape(c), c.dtype, s.k);
          const vRaw = randomValues(kvShape(c), c.dtype, s.v).values;
          for (let r = 0; r < vRaw.length; r += c.d) vRaw[r] = 1;
          const vh = hostValues(vRaw, kvShape(c), c.dtype);
          const { o, lse } = await forward(device, c, qh, kh, vh);
          const m = maskOf(c, c.options);
          for (let b = 0; b < c.n; b++) {
            for (let head = 0; head < c.h; head++) {
              const kvHead = Math.floor(head / (c.h / c.hk));
              for (let i = 0; i < c.lq; i++) {
                const rowLse = lse[(b * c.h + head) * c.lq + i];
                const o0 = o[rowOf(b, i, head, c.lq, c.h, c.d)];
                let sum = 0;
                let allowed = 0;
                for (let j = 0; j < c.lk; j++) {
                  if (!isAllowed(m, i, j)) continue;
                  allowed++;
                  let dot = 0;
                  const qo = rowOf(b, i, head, c.lq, c.h, c.d);
                  const ko = rowOf(b, j, kvHead, c.lk, c.hk, c.d);
                  for (let x = 0; x < c.d; x++) dot += qh.values[qo + x] * kh.values[ko + x];
                  sum += Math.exp(m.softmaxScale * dot - rowLse);
                }
                const where = `b${b} head${head} row${i}`;
                if (allowed === 0) {
                  assert.equal(rowLse, -Infinity, `${where}: empty row lse`);
                  assert.equal(o0, 0, `${where}: empty row o`);
                  continue;
                }
                assert.ok(Math.abs(sum - 1) <= 1e-4, `${where}: sum_j exp(s - lse) = ${sum}`);
                assert.ok(Math.abs(o0 - 1) <= closeTo(c.dtype, 1), `${where}: o of the all-ones column = ${o0}`);
              }
            }
          }
        }),
        { seed: SEED, numRuns: RUNS },
      );
    });

    it('o lies in the convex hull of the allowed v rows (per coordinate between their min and max)', async () => {
      await fc.assert(
        fc.asyncProperty(caseArbitrary(dtypes, 150), async (c) => {
          const s = inputSeeds(c.seed);
          const qh = randomValues(qShape(c), c.dtype, s.q, 2);
          const kh = randomValues(kvShape(c), c.dtype, s.k, 2);
          const vh = randomValues(kvShape(c), c.dtype, s.v);
          const { o } = await forward(device, c, qh, kh, vh);
          const m = maskOf(c, c.options);
          const tol = closeTo(c.dtype, maxAbs(vh.values));
          for (let b = 0; b < c.n; b++) {
            for (let head = 0; head < c.h; head++) {
              const kvHead = Math.floor(head / (c.h / c.hk));
              for (let i = 0; i < c.lq; i++) {
                const oo = rowOf(b, i, head, c.lq, c.h, c.d);
                for (let x = 0; x < c.d; x++) {
                  let lo = Infinity;
                  let hi = -Infinity;
                  for (let j = 0; j < c.lk; j++) {
                    if (!isAllowed(m, i, j)) continue;
                    const value = vh.values[rowOf(b, j, kvHead, c.lk, c.hk, c.d) + x];
                    lo = Math.min(lo, value);
                    hi = Math.max(hi, value);
                  }
                  if (lo > hi) lo = hi = 0; // empty row: o = 0
                  const value = o[oo + x];
                  assert.ok(value >= lo - tol && value <= hi + tol, `b${b} head${head} row${i} x${x}: o = ${value} outside [${lo}, ${hi}]`);
                }
              }
            }
          }
        }),
        { seed: SEED + 1, numRuns: RUNS },
      );
    });

    it('grouped-query attention equals multi-head attention with k and v repeated per query head', async () => {
      await fc.assert(
        fc.asyncProperty(caseArbitrary(dtypes, 100), async (c) => {
          const group = c.h / c.hk;
          const s = inputSeeds(c.seed);
          const qh = randomValues(qShape(c), c.dtype, s.q);
          const kh = randomValues(kvShape(c), c.dtype, s.k);
          const vh = randomValues(kvShape(c), c.dtype, s.v);
          const douth = randomValues(qShape(c), c.dtype, s.dout);
          const repeated: Case = { ...c, hk: c.h };
          const repeat = (t: HostValues) => {
            const out = new Float32Array(c.n * c.lk * c.h * c.d);
            for (let b = 0; b < c.n; b++)
              for (let j = 0; j < c.lk; j++)
                for (let head = 0; head < c.h; head++)
                  out.set(t.values.subarray(rowOf(b, j, Math.floor(head / group), c.lk, c.hk, c.d), rowOf(b, j, Math.floor(head / group), c.lk, c.hk, c.d) + c.d), rowOf(b, j, head, c.lk, c.h, c.d));
            return hostValues(out, kvShape(repeated), c.dtype);
          };
          const run = async (kv: Case, k: HostValues, v: HostValues) => {
            using qT = upload(qh, device);
            using kT = upload(k, device);
            using vT = upload(v, device);
            using doutT = upload(douth, device);
            const { out, lse } = flashMhaFwd(qT, kT, vT, c.options);
            const g = flashMhaBwd(doutT, qT, kT, vT, out, lse, c.options);
            const r = { o: await out.toFloat32Array(), lse: await lse.toFloat32Array(), dq: await g.dq.toFloat32Array(), dk: await g.dk.toFloat32Array(), dv: await g.dv.toFloat32Array() };
            for (const t of [out, lse, g.dq, g.dk, g.dv]) t.dispose();
            assert.equal(r.dk.length, kv.n * kv.lk * kv.hk * kv.d);
            return r;
          };
          const gqa = await run(c, kh, vh);
          const mha = await run(repeated, repeat(kh), repeat(vh));
          const near = (name: string, a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => {
            for (let e = 0; e < a.length; e++) {
              const same = a[e] === b[e] || Math.abs(a[e] - b[e]) <= tol;
              assert.ok(same, `${name}[${e}]: GQA ${a[e]} vs MHA ${b[e]} (tolerance ${tol})`);
            }
          };
          near('o', gqa.o, mha.o, closeTo(c.dtype, maxAbs(mha.o)));
          near('lse', gqa.lse, mha.lse, 1e-6 * Math.max(1, maxAbs(mha.lse)));
          near('dq', gqa.dq, mha.dq, closeTo(c.dtype, maxAbs(mha.dq)));
          // dk, dv of a shared head are the sums over its group of the repeated heads' gradients
          for (const name of ['dk', 'dv'] as const) {
            const summed = new Float64Array(gqa[name].length);
            for (let b = 0; b < c.n; b++)
              for (let j = 0; j < c.lk; j++)
                for (let head = 0; head < c.h; head++)
                  for (let x = 0; x < c.d; x++)
                    summed[rowOf(b, j, Math.floor(head / group), c.lk, c.hk, c.d) + x] += mha[name][rowOf(b, j, head, c.lk, c.h, c.d) + x];
            const scale = maxAbs(summed);
            near(name, gqa[name], summed, c.dtype === 'float32' ? 1e-5 * Math.max(scale, 1e-3) : (group + 2) * ulp(c.dtype, scale));
          }
        }),
        { seed: SEED + 2, numRuns: RUNS },
      );
    });

    it('causal row i ignores the keys after its diagonal (changing them leaves rows <= i bit for bit)', async () => {
      await fc.assert(
        fc.asyncProperty(caseArbitrary(dtypes, 150), fc.nat(), async (c0, rowPick) => {
          const { c, i, s, qh, kh, vh, firstUnseen } = causalCase(c0, rowPick);
          const changed = (t: HostValues, seed: number) => changedRows(t, c, firstUnseen, c.lk, seed);
          const base = await forward(device, c, qh, kh, vh);
          const other = await forward(device, c, qh, changed(kh, s.k + 99), changed(vh, s.v + 99));
          for (let b = 0; b < c.n; b++) {
            for (let head = 0; head < c.h; head++) {
              for (let r = 0; r <= i; r++) {
                const l = (b * c.h + head) * c.lq + r;
                assert.ok(Object.is(base.lse[l], other.lse[l]), `lse b${b} head${head} row${r} changed: ${base.lse[l]} -> ${other.lse[l]}`);
                const oo = rowOf(b, r, head, c.lq, c.h, c.d);
                for (let x = 0; x < c.d; x++) {
                  assert.ok(Object.is(base.o[oo + x], other.o[oo + x]), `o b${b} head${head} row${r} x${x} changed`);
                }
              }
            }
          }
        }),
        { seed: SEED + 3, numRuns: RUNS },
      );
    });

    it('the causal backward keeps to the diagonal: keys after row i change no dq of rows <= i, rows <= i no dk, dv of those keys', async () => {
      await fc.assert(
        fc.asyncProperty(caseArbitrary(dtypes, 150), fc.nat(), async (c0, rowPick) => {
          const { c, i, s, qh, kh, vh, firstUnseen } = causalCase(c0, rowPick);
          const douth = randomValues(qShape(c), c.dtype, s.dout);
          const base = await gradients(device, c, qh, kh, vh, douth);
          const keysChanged = await gradients(device, c, qh, changedRows(kh, c, firstUnseen, c.lk, s.k + 99),
            changedRows(vh, c, firstUnseen, c.lk, s.v + 99), douth);
          sameRows('dq', base.dq, keysChanged.dq, c, qShape(c), 0, i + 1);
          const rowsChanged = await gradients(device, c, changedRows(qh, c, 0, i + 1, s.q + 99), kh, vh,
            changedRows(douth, c, 0, i + 1, s.dout + 99));
          sameRows('dk', base.dk, rowsChanged.dk, c, kvShape(c), firstUnseen, c.lk);
          sameRows('dv', base.dv, rowsChanged.dv, c, kvShape(c), firstUnseen, c.lk);
        }),
        { seed: SEED + 4, numRuns: RUNS },
      );
    });
  });
}
