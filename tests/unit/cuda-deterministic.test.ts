// The deterministic backward's host side over the fake driver (no GPU needed): deterministic: true launches
// bwd_pre, bwd, bwd_dq_det with deterministic = 1 in the params; the default backward is unchanged beside
// it; a build from before deterministic mode still serves every other call; explain() and FLASH_ATTN_LOG
// name the kernels of each mode.
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, test } from 'node:test';
import { cudaBackward, cudaForward } from '../../src/backend/cuda/attention.js';
import { useDriverForTesting } from '../../src/backend/cuda/runtime.js';
import { forgetManifestForTesting } from '../../src/backend/cuda/table.js';
import { encodeArray } from '../../src/dtype.js';
import { BackendUnavailableError, type Tensor, explain, flashMhaBwd, flashMhaFwd, flashMhaVjp, randn } from '../../src/index.js';
import type { AttentionOptions } from '../../src/params.js';
import { setEnv } from '../support/env.js';
import { type Mask, referenceBackward } from '../support/reference.js';
import { stderrOf } from '../support/stderr.js';
import { ALL_PHASES, writeFakeBuild } from './cuda-fake-build.js';
import { FakeDriver } from './cuda-fake-driver.js';
import { decodeParams } from './cuda-fake-kernels.js';

const current = writeFakeBuild();
// The kernels as built before the deterministic backward existed, and before bwd_pre could be given no dq_accum.
const older = writeFakeBuild(ALL_PHASES.filter((phase) => phase !== 'bwd_dq_det'), { accumOptional: false });
const olderPre = writeFakeBuild(ALL_PHASES, { accumOptional: false });

// Each test starts on the current build with no log; afterEach puts back the earlier values, whatever the test set
// meanwhile (useBuild, FLASH_ATTN_LOG=1).
let restoreEnv = () => {};
beforeEach(() => {
  restoreEnv = setEnv({ FLASH_ATTN_KERNEL_DIR: current.directory, FLASH_ATTN_LOG: undefined });
  forgetManifestForTesting();
});
afterEach(() => {
  restoreEnv();
  forgetManifestForTesting();
});
after(() => {
  useDriverForTesting(undefined);
  current.dispose();
  older.dispose();
  olderPre.dispose();
});

function useBuild(build: typeof current): void {
  process.env.FLASH_ATTN_KERNEL_DIR = build.directory;
  forgetManifestForTesting();
}

function newFake(build = current): FakeDriver {
  // cc 8.0: the forward is always sm_80, so launches after it are the backward's alone. New allocations hold NaNs,
  // as uncleared device memory may.
  const fake = new FakeDriver({ computeCapability: [8, 0], kernels: build.kernels, allocationFill: 0xff });
  useDriverForTesting(fake);
  return fake;
}

const disposeAll = (...ts: Tensor[]) => ts.forEach((t) => t.dispose());

const [n, lq, lk, h, hk, d] = [2, 70, 45, 4, 2, 64];
const WINDOW: AttentionOptions = { windowSize: [20, 5] };
const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / 8, windowLeft: 20, windowRight: 5, diagonalOffset: lk - lq };

function inputs() {
  return {
    q: randn([n, lq, h, d], { seed: 1, dtype: 'bfloat16', device: 'cuda' }),
    k: randn([n, lk, hk, d], { seed: 2, dtype: 'bfloat16', device: 'cuda' }),
    v: randn([n, lk, hk, d], { seed: 3, dtype: 'bfloat16', device: 'cuda' }),
    dout: randn([n, lq, h, d], { seed: 4, dtype: 'bfloat16', device: 'cuda' }),
  };
}

test('deterministic: bwd_pre (given no dq_accum, which nothing clears), bwd, bwd_dq_det; gradients as the reference', async () => {
  const fake = newFake();
  const { q, k, v, dout } = inputs();
  const options = { ...WINDOW, deterministic: true };
  const { out, lse } = flashMhaFwd(q, k, v, options);
  const usedBefore = fake.memory.usedBytes;
  const forwardLaunches = fake.launches.length;
  const g = flashMhaBwd(dout, q, k, v, out, lse, options);
  const gradientBytes = 2 * (n * lq * h * d + 2 * n * lk * hk * d);
  assert.equal(fake.memory.usedBytes, usedBefore + gradientBytes, 'the workspaces are freed; only the gradients stay');

  const launches = fake.launches.slice(forwardLaunches);
  assert.deepEqual(launches.map((l) => l.symbol), ['flash_bwd_pre_bfloat16_d64_s40960', 'flash_bwd_bfloat16_d64_s40960', 'flash_bwd_dq_det_bfloat16_d64_s40960']);
  assert.deepEqual(launches.map((l) => l.grid), [[Math.ceil(lq / 16), h, n], [Math.ceil(lk / 64), hk, n], [Math.ceil(lq / 64), h, n]]);
  assert.ok(Buffer.compare(launches[1].params, launches[2].params) === 0, 'one params struct for bwd and bwd_dq_det');
  const p = decodeParams(new DataView(launches[1].params.buffer));
  assert.equal(p.out_float32, 0);
  // The sm_80 bwd still adds into dq_accum in this mode (its result is not read), so it is still allocated, but
  // nothing clears it: bwd_pre is given none and there is no memset.
  assert.ok([p.q, p.k, p.v, p.o, p.lse, p.dout, p.dq, p.dk, p.dv, p.dq_accum, p.softmax_d].every((a) => a !== 0n));
  assert.deepEqual(decodeParams(new DataView(launches[0].params.buffer)), { ...p, dq_accum: 0n });

  const ref = referenceBackward(mask, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array(), await dout.toFloat32Array());
  assert.deepEqual(await g.dq.data(), encodeArray(Float32Array.from(ref.dq), 'bfloat16'));
  assert.deepEqual(await g.dk.data(), encodeArray(Float32Array.from(ref.dk), 'bfloat16'));
  assert.deepEqual(await g.dv.data(), encodeArray(Float32Array.from(ref.dv), 'bfloat16'));
  disposeAll(q, k, v, dout, out, lse, g.dq, g.dk, g.dv);
  assert.equal(fake.memory.usedBytes, 0);
});

test('deterministic with a build whose bwd_pre must be given dq_accum: it is, in the one params struct', async () => {
  useBuild(olderPre);
  const fake = newFake(olderPre);
  const { q, k, v, dout } = inputs();
  const options = { ...WINDOW, deterministic: true };
  const { out, lse } = flashMhaFwd(q, k, v, options);
  const forwardLaunches = fake.launches.length;
  const g = flashMhaBwd(dout, q, k, v, out, lse, options);
  const launches = fake.launches.slice(forwardLaunches);
  assert.deepEqual(launches.map((l) => l.symbol), ['flash_bwd_pre_bfloat16_d64_s40960', 'flash_bwd_bfloat16_d64_s40960', 'flash_bwd_dq_det_bfloat16_d64_s40960']);
  assert.ok(launches.every((l) => Buffer.compare(l.params, launches[0].params) === 0));
  assert.notEqual(decodeParams(new DataView(launches[0].params.buffer)).dq_accum, 0n);
  const ref = referenceBackward(mask, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array(), await dout.toFloat32Array());
  assert.deepEqual(await g.dq.data(), encodeArray(Float32Array.from(ref.dq), 'bfloat16'));
  disposeAll(q, k, v, dout, out, lse, g.dq, g.dk, g.dv);
  assert.equal(fake.memory.usedBytes, 0);
});

test('default mode (absent or deterministic: false) is unchanged: bwd_dq, even where bwd_dq_det is built', () => {
  for (const options of [WINDOW, { ...WINDOW, deterministic: false }]) {
    const fake = newFake();
    const { q, k, v, dout } = inputs();
    const { out, lse } = flashMhaFwd(q, k, v, options);
    const g = flashMhaBwd(dout, q, k, v, out, lse, options);
    const launches = fake.launches.slice(1);
    assert.deepEqual(launches.map((l) => l.symbol), ['flash_bwd_pre_bfloat16_d64_s40960', 'flash_bwd_bfloat16_d64_s40960', 'flash_bwd_dq_bfloat16_d64_s40960']);
    assert.deepEqual(launches.map((l) => l.grid)[2], [Math.ceil(lq / 16), h, n]);
    disposeAll(q, k, v, dout, out, lse, g.dq, g.dk, g.dv);
    assert.equal(fake.memory.usedBytes, 0);
  }
});

test('the forward ignores the flag: same launch, same bits, in both modes', async () => {
  const fake = newFake();
  const { q, k, v, dout } = inputs();
  const a = flashMhaFwd(q, k, v, WINDOW);
  const b = flashMhaFwd(q, k, v, { ...WINDOW, deterministic: true });
  assert.deepEqual(fake.launches.map((l) => l.symbol), ['flash_fwd_bfloat16_d64_s40960', 'flash_fwd_bfloat16_d64_s40960']);
  assert.deepEqual(await a.out.data(), await b.out.data());
  assert.deepEqual(await a.lse.data(), await b.lse.data());
  disposeAll(q, k, v, dout, a.out, a.lse, b.out, b.lse);
});

test("ring attention's float32 gradients: out_float32 reaches bwd_dq_det", async () => {
  const fake = newFake();
  const { q, k, v, dout } = inputs();
  const p = { ...mask, dtype: 'bfloat16', device: 'cuda:0', outDtype: 'float32', deterministic: true } as const;
  const f = cudaForward({ ...p, outDtype: 'bfloat16' }, q.storage(), k.storage(), v.storage());
  const g = cudaBackward(p, dout.storage(), q.storage(), k.storage(), v.storage(), f.out, f.lse);
  const launches = fake.launches.slice(1);
  assert.deepEqual(launches.map((l) => l.symbol).at(-1), 'flash_bwd_dq_det_bfloat16_d64_s40960');
  const params = decodeParams(new DataView(launches[0].params.buffer));
  assert.equal(params.out_float32, 1);
  const ref = referenceBackward(mask, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array(), await dout.toFloat32Array());
  assert.deepEqual(await g.dq.read(), Float32Array.from(ref.dq));
  for (const s of [f.out, f.lse, g.dq, g.dk, g.dv]) s.dispose();
  disposeAll(q, k, v, dout);
});

test('a build without bwd_dq_det: every other call runs; a deterministic backward throws BackendUnavailableError and leaks nothing', () => {
  useBuild(older);
  const fake = newFake(older);
  const { q, k, v, dout } = inputs();
  const deterministic = { ...WINDOW, deterministic: true };
  // The forward needs no new kernel, and neither does the default backward.
  const { out, lse } = flashMhaFwd(q, k, v, deterministic);
  const g = flashMhaBwd(dout, q, k, v, out, lse, WINDOW);
  assert.equal(fake.launches.at(-1)?.symbol, 'flash_bwd_dq_bfloat16_d64_s40960');
  disposeAll(g.dq, g.dk, g.dv);

  const launched = fake.launches.length;
  const usedBefore = fake.memory.usedBytes;
  const predates = (e: unknown) =>
    e instanceof BackendUnavailableError && /the compiled kernels predate deterministic mode \(no bwd_dq_det kernel/.test(e.message) && /scripts\/build-kernels\.mjs/.test(e.message);
  assert.throws(() => flashMhaBwd(dout, q, k, v, out, lse, deterministic), predates);
  const [o, pullback] = flashMhaVjp(q, k, v, deterministic);
  assert.throws(() => pullback(dout), predates);
  pullback.dispose();
  o.dispose();
  assert.throws(() => explain(q, k, v, deterministic), predates);
  assert.equal(fake.launches.length, launched + 1, 'only the vjp forward launched');
  assert.equal(fake.memory.usedBytes, usedBefore, 'nothing allocated for the refused backward stays');

  // No key at all: the gradients are filled without a kernel, so the old build serves that too.
  const empty = randn([n, 0, hk, d], { dtype: 'bfloat16', device: 'cuda' });
  const e = flashMhaFwd(q, empty, empty, deterministic);
  const ge = flashMhaBwd(dout, q, empty, empty, e.out, e.lse, deterministic);
  disposeAll(empty, e.out, e.lse, ge.dq, ge.dk, ge.dv, q, k, v, dout, out, lse);
  assert.equal(fake.memory.usedBytes, 0);
});

test('explain names bwd_dq_det in deterministic mode and bwd_dq otherwise; the forward is the same', () => {
  newFake();
  const { q, k, v, dout } = inputs();
  const plain = explain(q, k, v, WINDOW);
  const det = explain(q, k, v, { ...WINDOW, deterministic: true });
  assert.deepEqual(plain.backward, ['flash_bwd_pre_bfloat16_d64_s40960 (sm_80)', 'flash_bwd_bfloat16_d64_s40960 (sm_80)', 'flash_bwd_dq_bfloat16_d64_s40960 (sm_80)']);
  assert.deepEqual(det.backward, ['flash_bwd_pre_bfloat16_d64_s40960 (sm_80)', 'flash_bwd_bfloat16_d64_s40960 (sm_80)', 'flash_bwd_dq_det_bfloat16_d64_s40960 (sm_80)']);
  assert.deepEqual(det.forward, plain.forward);
  assert.equal(det.reason, plain.reason);
  disposeAll(q, k, v, dout);
});

test('FLASH_ATTN_LOG=1 reports the bwd_dq_det launch by phase and kernel', () => {
  newFake();
  const { q, k, v, dout } = inputs();
  const options = { ...WINDOW, deterministic: true };
  const { out, lse } = flashMhaFwd(q, k, v, options);
  process.env.FLASH_ATTN_LOG = '1';
  let g: ReturnType<typeof flashMhaBwd> | undefined;
  const log = stderrOf(() => {
    g = flashMhaBwd(dout, q, k, v, out, lse, options);
  });
  assert.deepEqual(log.trim().split('\n'), [
    `flash-attn: cuda:0 bwd_pre flash_bwd_pre_bfloat16_d64_s40960 (sm_80) grid ${Math.ceil(lq / 16)}x${h}x${n}`,
    `flash-attn: cuda:0 bwd flash_bwd_bfloat16_d64_s40960 (sm_80) grid ${Math.ceil(lk / 64)}x${hk}x${n}`,
    `flash-attn: cuda:0 bwd_dq_det flash_bwd_dq_det_bfloat16_d64_s40960 (sm_80) grid ${Math.ceil(lq / 64)}x${h}x${n}`,
  ]);
  disposeAll(q, k, v, dout, out, lse, g!.dq, g!.dk, g!.dv);
});
