// Programmatic dependent launch on a real GPU: each kernel may start while the one before it in the stream runs
// (on Hopper), and waits for that grid before it touches memory. A chain of calls where each reads what the one
// before wrote gives the same answers as the same chain with the stream drained between calls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Tensor, flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { bitsEqual, disposeAll, gpu, skipReason } from './gpu.js';

interface Link {
  out: Uint16Array;
  lse: Float32Array;
  dq: Float32Array;
  dk: Uint16Array;
  dv: Uint16Array;
}

const STEPS = 8;

/**
 * q_{i+1} = attention(q_i, k, v), and each step's backward with dout = its out: every launch reads what the launch
 * before it wrote (bwd_pre reads out, the main kernel what bwd_pre wrote, bwd_dq its dq_accum, the next forward
 * the previous out). `drain`: wait for the stream after every call.
 */
async function chain(deterministic: boolean, drain: boolean): Promise<Link[]> {
  const device = gpu();
  const [n, l, h, d] = [2, 1536, 8, 128];
  const k = randn([n, l, h / 2, d], { seed: 11, dtype: 'bfloat16', device: 'cuda' });
  const v = randn([n, l, h / 2, d], { seed: 12, dtype: 'bfloat16', device: 'cuda' });
  const q0 = randn([n, l, h, d], { seed: 10, dtype: 'bfloat16', device: 'cuda' });
  let q: Tensor = q0;
  const kept: Tensor[][] = [];
  for (let i = 0; i < STEPS; i++) {
    const { out, lse } = flashMhaFwd(q, k, v, { isCausal: i % 2 === 1 });
    if (drain) await device.idle();
    const g = flashMhaBwd(out, q, k, v, out, lse, { isCausal: i % 2 === 1, deterministic });
    if (drain) await device.idle();
    kept.push([out, lse, g.dq, g.dk, g.dv]);
    q = out;
  }
  const links: Link[] = [];
  for (const [out, lse, dq, dk, dv] of kept) {
    links.push({
      out: (await out.data()) as Uint16Array,
      lse: (await lse.data()) as Float32Array,
      dq: await dq.toFloat32Array(),
      dk: (await dk.data()) as Uint16Array,
      dv: (await dv.data()) as Uint16Array,
    });
  }
  disposeAll(q0, k, v, ...kept.flat());
  return links;
}

/** Largest |a - b| over the largest |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

test('on compute capability 9.0 the device launches kernels to overlap their predecessor unless FLASH_ATTN_PDL=0', { skip: skipReason }, () => {
  const device = gpu();
  const expected = device.computeCapability[0] >= 9 && process.env.FLASH_ATTN_PDL !== '0';
  assert.equal(device.canOverlapLaunches, expected);
});

test('a chain of dependent calls gives the same bits with overlapping launches as with the stream drained between calls', { skip: skipReason }, async () => {
  for (const deterministic of [true, false]) {
    const overlapped = await chain(deterministic, false);
    const drained = await chain(deterministic, true);
    for (let i = 0; i < STEPS; i++) {
      const what = `step ${i}${deterministic ? ', deterministic' : ''}`;
      assert.ok(bitsEqual(overlapped[i].out, drained[i].out), `${what}: out`);
      assert.ok(bitsEqual(overlapped[i].lse, drained[i].lse), `${what}: lse`);
      assert.ok(bitsEqual(overlapped[i].dk, drained[i].dk), `${what}: dk`);
      assert.ok(bitsEqual(overlapped[i].dv, drained[i].dv), `${what}: dv`);
      if (deterministic) {
        assert.ok(bitsEqual(overlapped[i].dq, drained[i].dq), `${what}: dq`);
      } else {
        // dq is summed by reductions in whatever order they land: the same up to bfloat16 rounding of sums that
        // differ in their last bits; a kernel that read dq_accum early or unzeroed would be off by far more.
        const error = relativeError(overlapped[i].dq, drained[i].dq);
        assert.ok(error < 2 ** -6, `${what}: dq off by ${error} of its largest element`);
      }
    }
  }
});
