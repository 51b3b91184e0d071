import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { registerBackend } from '../../src/backend.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import type { Dtype } from '../../src/dtype.js';
import { OptionError, type Tensor, flashMhaBwd, flashMhaFwd, flashMhaVjp, gatherSequence, shardSequence } from '../../src/index.js';
import type { SequenceLayout } from '../../src/ring/layout.js';
import { type Case, cpuDevices, describeCase, makeInputs, maxError, options, reference, RING_BOUND, type RingOutput as Output } from './support.js';


const WORLD_SIZES = [1, 2, 3, 4, 8];
const LAYOUTS: SequenceLayout[] = ['contiguous', 'zigzag'];

// 48 positions split into 2W chunks for every W above (48 = 16 * 3).
const MASKS: Pick<Case, 'isCausal' | 'windowSize' | 'lq' | 'lk'>[] = [
  { lq: 48, lk: 48 },
  { lq: 48, lk: 48, isCausal: true },
  { lq: 48, lk: 48, windowSize: [5, 2] },
  { lq: 48, lk: 48, windowSize: [0, 0] },
  { lq: 48, lk: 48, windowSize: [7, -1] },
  // lq > lk under a causal mask: the first rows see no key at all (lse = -Infinity on every rank).
  { lq: 96, lk: 48, isCausal: true },
  { lq: 48, lk: 96, windowSize: [10, 4] },
];

async function values(t: Tensor): Promise<Float32Array> {
  return t.toFloat32Array();
}

function checkBound(name: Output, ring: number, single: number, w: number, label: string): void {
  const { F, perDevice } = RING_BOUND[name];
  const bound = F * single + perDevice * w;
  assert.ok(ring <= bound, `${name}: ring error ${ring.toExponential(3)} > ${F} x single-device ${single.toExponential(3)} + ${perDevice} x ${w}; ${label}`);
}

function refOf(ref: Awaited<ReturnType<typeof reference>>, name: Output): Float64Array {
  return name === 'out' ? ref.o : ref[name];
}

async function checkCase(c: Case): Promise<void> {
  const x = makeInputs(c);
  const ref = await reference(x);
  const opts = options(c);
  const single = flashMhaFwd(x.q, x.k, x.v, opts);
  const singleGrads = flashMhaBwd(x.dout, x.q, x.k, x.v, single.out, single.lse, opts);
  const singleError: Record<Output, number> = {
    out: maxError(await values(single.out), ref.o),
    lse: maxError(await values(single.lse), ref.lse),
    dq: maxError(await values(singleGrads.dq), ref.dq),
    dk: maxError(await values(singleGrads.dk), ref.dk),
    dv: maxError(await values(singleGrads.dv), ref.dv),
  };
  for (const w of WORLD_SIZES) {
    for (const layout of LAYOUTS) {
      const label = `W=${w} ${layout} ${describeCase(c)}`;
      const shard = (t: Tensor) => shardSequence(t, cpuDevices(w), { layout });
      const [q, k, v, dout] = [x.q, x.k, x.v, x.dout].map(shard);
      const fwd = flashMhaFwd(q, k, v, opts);
      assert.equal(fwd.lse.axis, 2, label);
      assert.deepEqual([...fwd.lse.shape], [c.n, c.h, c.lq], label);
      assert.deepEqual([...fwd.out.devices], cpuDevices(w), label);
      const grads = flashMhaBwd(dout, q, k, v, fwd.out, fwd.lse, opts);
      const ringError: Record<Output, number> = {
        out: maxError(await values(gatherSequence(fwd.out)), ref.o),
        lse: maxError(await values(gatherSequence(fwd.lse)), ref.lse),
        dq: maxError(await values(gatherSequence(grads.dq)), ref.dq),
        dk: maxError(await values(gatherSequence(grads.dk)), ref.dk),
        dv: maxError(await values(gatherSequence(grads.dv)), ref.dv),
      };
      for (const name of Object.keys(RING_BOUND) as Output[]) {
        checkBound(name, ringError[name], singleError[name], w, label);
        // float32 has testing.md's own bar, tighter than the ring floor: relative 1e-5 against float64, no floor.
        if (c.dtype === 'float32') {
          const scale = Math.max(0, ...Array.from(refOf(ref, name), (x) => (Number.isFinite(x) ? Math.abs(x) : 0)));
          assert.ok(ringError[name] <= 1e-5 * scale, `${name}: float32 ring error ${ringError[name]} > 1e-5 x ${scale}; ${label}`);
        }
      }
      for (const t of [q, k, v, dout, fwd.out, fwd.lse, grads.dq, grads.dk, grads.dv]) t.dispose();
    }
  }
}

const DTYPES: Dtype[] = ['float32', 'bfloat16', 'float16'];
const HEADS: [number, number][] = [[4, 2], [2, 2], [4, 1]];

describe('ring attention equals the single-device result (W in 1, 2, 3, 4, 8; contiguous and zigzag)', () => {
  MASKS.forEach((mask, m) => {
    const dtype = DTYPES[m % DTYPES.length];
    const [h, hk] = HEADS[m % HEADS.length];
    const c: Case = { n: 1, h, hk, d: 8, dtype, seed: 100 + m, ...mask };
    test(describeCase(c), () => checkCase(c));
  });
  test('every dtype on a causal GQA case with batch 2', async () => {
    for (const dtype of DTYPES) await checkCase({ n: 2, lq: 48, lk: 48, h: 4, hk: 2, d: 16, dtype, isCausal: true, seed: 7 });
  });
});

test('float32 ring results are within 1e-5 of the float64 reference', async () => {
  const c: Case = { n: 1, lq: 48, lk: 48, h: 2, hk: 1, d: 8, dtype: 'float32', isCausal: true, seed: 3 };
  const x = makeInputs(c);
  const ref = await reference(x);
  const shard = (t: Tensor) => shardSequence(t, cpuDevices(4), { layout: 'zigzag' });
  const fwd = flashMhaFwd(shard(x.q), shard(x.k), shard(x.v), options(c));
  const o = await values(gatherSequence(fwd.out));
  assert.ok(maxError(o, ref.o) <= 1e-5, `o error ${maxError(o, ref.o)}`);
});

test('flashMha and flashMhaVjp accept sharded inputs and return sharded results', async () => {
  const c: Case = { n: 1, lq: 24, lk: 24, h: 2, hk: 2, d: 4, dtype: 'float32', windowSize: [3, 3], seed: 11 };
  const x = makeInputs(c);
  const devices = cpuDevices(3);
  const shard = (t: Tensor) => shardSequence(t, devices, { layout: 'zigzag' });
  const [q, k, v, dout] = [x.q, x.k, x.v, x.dout].map(shard);
  const single = flashMhaFwd(x.q, x.k, x.v, options(c));
  const given = options(c);
  const [out, pullback] = flashMhaVjp(q, k, v, given);
  // The pullback differentiates the call made, whatever becomes of the options object after it.
  Object.assign(given, { softmaxScale: 5, isCausal: true, windowSize: [0, 0] });
  assert.deepEqual([...out.devices], devices);
  assert.equal(out.layout, 'zigzag');
  assert.ok(maxError(await values(gatherSequence(out)), await values(single.out)) < 1e-6);
  const [dq, dk, dv] = pullback(dout);
  const g = flashMhaBwd(x.dout, x.q, x.k, x.v, single.out, single.lse, options(c));
  assert.ok(maxError(await values(gatherSequence(dq)), await values(g.dq)) < 1e-5);
  assert.ok(maxError(await values(gatherSequence(dk)), await values(g.dk)) < 1e-5);
  assert.ok(maxError(await values(gatherSequence(dv)), await values(g.dv)) < 1e-5);
  pullback.dispose();
  const { flashMha } = await import('../../src/index.js');
  const plain = flashMha(q, k, v, options(c));
  assert.deepEqual(await values(gatherSequence(plain)), await values(gatherSequence(out)));
});

test('deterministic reaches every pair the ring backward computes, and a bad value is refused at the front door', async () => {
  const c: Case = { n: 1, lq: 24, lk: 24, h: 4, hk: 2, d: 8, dtype: 'bfloat16', isCausal: true, seed: 12 };
  const x = makeInputs(c);
  const shard = (t: Tensor) => shardSequence(t, cpuDevices(3), { layout: 'zigzag' });
  const [q, k, v, dout] = [x.q, x.k, x.v, x.dout].map(shard);
  const seen: boolean[] = [];
  registerBackend({ ...cpuBackend, backward: (p, ...rest) => (seen.push(p.deterministic), cpuBackend.backward(p, ...rest)) });
  try {
    const bits = async (deterministic: boolean) => {
      const fwd = flashMhaFwd(q, k, v, { ...options(c), deterministic });
      const g = flashMhaBwd(dout, q, k, v, fwd.out, fwd.lse, { ...options(c), deterministic });
      const all = await Promise.all([g.dq, g.dk, g.dv].map((s) => gatherSequence(s).data()));
      for (const t of [fwd.out, fwd.lse, g.dq, g.dk, g.dv]) t.dispose();
      return all;
    };
    const first = await bits(true);
    assert.ok(seen.length > 0 && seen.every((d) => d), `every pair's problem says deterministic: ${seen}`);
    seen.length = 0;
    // The CPU backend is deterministic in either mode, so the flag changes no bit here.
    assert.deepEqual(await bits(true), first);
    assert.deepEqual(await bits(false), first);
    assert.ok(seen.length > 0 && seen.every((d, i) => d === i < seen.length / 2));
  } finally {
    registerBackend(cpuBackend);
  }
  assert.throws(() => flashMhaBwd(dout, q, k, v, q, q, { deterministic: 'yes' as unknown as boolean }), OptionError);
  assert.throws(() => flashMhaFwd(q, k, v, { deterministic: 1 as unknown as boolean }), /^OptionError: deterministic: expected a boolean/);
});
