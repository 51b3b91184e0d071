/** What the CUDA ring tests share: whether they can run here (else why not), and small helpers. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { kernelDirectory } from '../../src/backend/cuda/table.js';
import assert from 'node:assert/strict';
import { type Tensor, flashMhaBwd, flashMhaFwd, gatherSequence, randn, shardSequence } from '../../src/index.js';
import { bitsEqual, skipReason as gpuSkipReason } from '../cuda/gpu.js';
import type { SequenceLayout } from '../../src/ring/layout.js';
import { type Case, describeCase, makeInputs, maxError, options, reference, RING_BOUND, type RingOutput as Output } from './support.js';

function findKernelsMissing(): string | false {
  for (const [file, script] of [['manifest.json', 'build-kernels'], ['ring-manifest.json', 'build-ring-kernels']]) {
    const path = join(kernelDirectory(), file);
    if (!existsSync(path)) return `a CUDA device is here but ${path} is missing (run node scripts/${script}.mjs)`;
  }
  return false;
}

/** Why there is no GPU to test on, or `false` (thrown instead under FLASH_ATTN_REQUIRE_GPU=1). */
export const noDevice: string | false = gpuSkipReason;
/**
 * With a GPU here, why the built kernels cannot serve the ring tests (cuda-ops.test.ts fails on it, so that a
 * partial build does not pass as 20 skips), or `false`.
 */
export const kernelsMissing: string | false = noDevice ? false : findKernelsMissing();
/** `false` where a GPU and the built kernels are present; otherwise the reason, printed as the skip message. */
export const skipReason: string | false = noDevice || kernelsMissing;
if (skipReason) console.log(`# CUDA ring tests skipped: ${skipReason}`);

/** W virtual ranks on the one GPU cuda:0. */
export const oneGpu = (w: number): string[] => Array.from({ length: w }, () => 'cuda:0');

export function disposeAll(...tensors: { dispose(): void }[]): void {
  for (const t of tensors) t.dispose();
}

export async function values(t: Tensor): Promise<Float32Array> {
  return t.toFloat32Array();
}

const OUTPUTS = Object.keys(RING_BOUND) as Output[];

export const LAYOUTS: SequenceLayout[] = ['contiguous', 'zigzag'];

// 256 positions split into 2W = 16 chunks at W = 8.
/**
 * The ring cases every CUDA ring test runs (virtual ranks on one GPU, distinct GPUs over NCCL): each mask
 * kind, GQA and MQA, lq != lk both ways, both 16-bit dtypes.
 */
export const RING_CASES: Case[] = [
  { n: 1, lq: 256, lk: 256, h: 4, hk: 2, d: 64, dtype: 'bfloat16', seed: 1 },
  { n: 1, lq: 256, lk: 256, h: 4, hk: 4, d: 64, dtype: 'float16', isCausal: true, seed: 2 },
  { n: 1, lq: 256, lk: 256, h: 4, hk: 1, d: 32, dtype: 'bfloat16', windowSize: [40, 8], seed: 3 },
  { n: 1, lq: 256, lk: 256, h: 2, hk: 2, d: 64, dtype: 'float16', windowSize: [0, 0], seed: 4 },
  // lq > lk, causal: the first 256 rows see no key at all (lse = -Infinity on every rank).
  { n: 1, lq: 512, lk: 256, h: 2, hk: 1, d: 64, dtype: 'bfloat16', isCausal: true, seed: 5 },
  { n: 1, lq: 256, lk: 512, h: 2, hk: 2, d: 96, dtype: 'float16', windowSize: [50, 12], seed: 6 },
  { n: 2, lq: 256, lk: 256, h: 4, hk: 2, d: 128, dtype: 'bfloat16', isCausal: true, seed: 7 },
  { n: 1, lq: 256, lk: 256, h: 2, hk: 1, d: 128, dtype: 'float16', windowSize: [-1, 30], seed: 8 },
];

async function onGpu(t: Tensor): Promise<Tensor> {
  const moved = await t.to('cuda:0');
  t.dispose();
  return moved;
}

async function errorsOf(ts: Record<Output, Tensor>, ref: Awaited<ReturnType<typeof reference>>): Promise<Record<Output, number>> {
  return {
    out: maxError(await values(ts.out), ref.o),
    lse: maxError(await values(ts.lse), ref.lse),
    dq: maxError(await values(ts.dq), ref.dq),
    dk: maxError(await values(ts.dk), ref.dk),
    dv: maxError(await values(ts.dv), ref.dv),
  };
}

/** Runs case `c` on one GPU and as a ring over `devicesOf(w)` for each W and layout, asserting testing.md's rule. */
export async function checkRingCase(c: Case, worldSizes: readonly number[], devicesOf: (w: number) => string[]): Promise<void> {
  const host = makeInputs(c);
  const ref = await reference(host);
  const [q, k, v, dout] = await Promise.all([host.q, host.k, host.v, host.dout].map(onGpu));
  const opts = options(c);
  const single = flashMhaFwd(q, k, v, opts);
  const singleGrads = flashMhaBwd(dout, q, k, v, single.out, single.lse, opts);
  const singleError = await errorsOf({ ...single, ...singleGrads }, ref);
  disposeAll(single.out, single.lse, singleGrads.dq, singleGrads.dk, singleGrads.dv);
  // The worst ring error of each output over every W and layout, and its share of the bound.
  const worst = Object.fromEntries(OUTPUTS.map((name) => [name, { error: 0, ofBound: 0 }])) as Record<Output, { error: number; ofBound: number }>;
  for (const w of worldSizes) {
    for (const layout of LAYOUTS) {
      const label = `W=${w} ${layout} ${describeCase(c)}`;
      const shard = (t: Tensor) => shardSequence(t, devicesOf(w), { layout });
      const [sq, sk, sv, sdout] = [q, k, v, dout].map(shard);
      const fwd = flashMhaFwd(sq, sk, sv, opts);
      assert.deepEqual([...fwd.out.devices], devicesOf(w), label);
      const grads = flashMhaBwd(sdout, sq, sk, sv, fwd.out, fwd.lse, opts);
      const gathered = {
        out: gatherSequence(fwd.out),
        lse: gatherSequence(fwd.lse),
        dq: gatherSequence(grads.dq),
        dk: gatherSequence(grads.dk),
        dv: gatherSequence(grads.dv),
      };
      const ringError = await errorsOf(gathered, ref);
      for (const name of OUTPUTS) {
        const { F, perDevice } = RING_BOUND[name];
        const bound = F * singleError[name] + perDevice * w;
        worst[name].error = Math.max(worst[name].error, ringError[name]);
        worst[name].ofBound = Math.max(worst[name].ofBound, ringError[name] / bound);
        assert.ok(
          ringError[name] <= bound,
          `${name}: ring error ${ringError[name].toExponential(3)} > ${F} x single-device ${singleError[name].toExponential(3)} + ${perDevice} x ${w}; ${label}`,
        );
      }
      disposeAll(sq, sk, sv, sdout, fwd.out, fwd.lse, grads.dq, grads.dk, grads.dv, ...Object.values(gathered));
    }
  }
  disposeAll(q, k, v, dout);
  const e = (x: number) => x.toExponential(2);
  console.log(
    `# ${describeCase(c)} W=${worldSizes.join(',')}: ` +
      OUTPUTS.map((name) => `${name} single ${e(singleError[name])} ring<=${e(worst[name].error)} (${(100 * worst[name].ofBound).toFixed(1)}% of bound)`).join('; '),
  );
}


/**
 * Runs the ring backward with deterministic: true `runs` times over `devices` (zigzag, causal, bfloat16,
 * [1, l, heads, d] inputs seeded from `seed`) and asserts that dq, dk and dv keep the same bits.
 */
export async function assertRingBitsRepeat(devices: string[], l: number, h: number, hk: number, d: number, seed: number, runs: number): Promise<void> {
  const make = (heads: number, s: number) => randn([1, l, heads, d], { seed: seed + s, dtype: 'bfloat16', device: 'cuda:0' });
  const [q0, k0, v0, dout0] = [make(h, 1), make(hk, 2), make(hk, 3), make(h, 4)];
  const shard = (t: Tensor) => shardSequence(t, devices, { layout: 'zigzag' });
  const [q, k, v, dout] = [q0, k0, v0, dout0].map(shard);
  const options = { isCausal: true, deterministic: true };
  const fwd = flashMhaFwd(q, k, v, options);
  let first: ArrayBufferView[] | undefined;
  for (let run = 0; run < runs; run++) {
    const g = flashMhaBwd(dout, q, k, v, fwd.out, fwd.lse, options);
    const gathered = [g.dq, g.dk, g.dv].map((s) => gatherSequence(s));
    const now = await Promise.all(gathered.map((t) => t.data()));
    disposeAll(g.dq, g.dk, g.dv, ...gathered);
    if (!first) first = now;
    else ['dq', 'dk', 'dv'].forEach((name, i) => assert.ok(bitsEqual(now[i], first![i]), `${name} differs between run 0 and run ${run}`));
  }
  disposeAll(q, k, v, dout, fwd.out, fwd.lse, q0, k0, v0, dout0);
}
