// The Hopper forward's host side over a fake driver (no GPU needed): on a 9.0 device with sm_90a entries in
// the manifest, the forward encodes three tensor maps and launches the sm_90a kernel with FwdArgs; the backward
// and every case the rule excludes run the sm_80 kernels; FLASH_ATTN_KERNELS, FLASH_ATTN_LOG and explain().
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, test } from 'node:test';
import { FLASH_PARAMS_SIZE, FWD90_ARGS_OFFSETS, FWD90_ARGS_SIZE, FWD90_MAPS } from '../../src/backend/cuda/abi.js';
import { cudaForward } from '../../src/backend/cuda/attention.js';
import { CU_TENSOR_MAP_BYTES } from '../../src/backend/cuda/driver.js';
import { useDriverForTesting } from '../../src/backend/cuda/runtime.js';
import { forgetManifestForTesting } from '../../src/backend/cuda/table.js';
import { encodeArray } from '../../src/dtype.js';
import { CudaError, OptionError, type Tensor, explain, flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { referenceForward } from '../support/reference.js';
import { FakeDriver, type FakeKernel, decodeFakeTensorMap } from './cuda-fake-driver.js';
import { type Phase, decodeParams, emulated } from './cuda-fake-kernels.js';

// --- a fake build with both families: sm_80 kernels for every phase, the Hopper forward for 64 and 128 ---

const SM80_SHAPES: Record<Phase, { tileRows: number; gridRows: 'lq' | 'lk'; gridHeads: 'h' | 'hk'; threads: number; smemBytes: number }> = {
  fwd: { tileRows: 128, gridRows: 'lq', gridHeads: 'h', threads: 128, smemBytes: 64 * 1024 },
  bwd_pre: { tileRows: 16, gridRows: 'lq', gridHeads: 'h', threads: 128, smemBytes: 0 },
  bwd: { tileRows: 64, gridRows: 'lk', gridHeads: 'hk', threads: 256, smemBytes: 80 * 1024 },
  bwd_dq: { tileRows: 16, gridRows: 'lq', gridHeads: 'h', threads: 128, smemBytes: 0 },
  bwd_dq_det: { tileRows: 64, gridRows: 'lq', gridHeads: 'h', threads: 128, smemBytes: 48 * 1024 },
};
const TAG = { float16: 'f16', bfloat16: 'bf16' } as const;
const HOPPER_SMEM = 164936;

const entries: Record<string, unknown>[] = [];
const kernels: Record<string, FakeKernel> = {};
for (const dtype of ['float16', 'bfloat16'] as const) {
  for (const headDim of [64, 128]) {
    for (const phase of Object.keys(SM80_SHAPES) as Phase[]) {
      const symbol = `flash_${phase}_${TAG[dtype]}_d${headDim}`;
      entries.push({ file: 'fake.fatbin', symbol, arch: 'sm_80', phase, dtype, headDim, ...SM80_SHAPES[phase] });
      kernels[symbol] = emulated(phase, dtype);
    }
    const symbol = `flash_fwd90_${TAG[dtype]}_d${headDim}`;
    entries.push({
      file: 'fake90.fatbin', symbol, arch: 'sm_90a', phase: 'fwd', dtype, headDim, threads: 384,
      smemBytes: HOPPER_SMEM, tileRows: 128, keyTileRows: headDim === 64 ? 128 : 96, gridRows: 'lq', gridHeads: 'h',
    });
    kernels[symbol] = emulated('fwd', dtype, FWD90_ARGS_OFFSETS.p);
  }
}

const kernelDir = mkdtempSync(join(tmpdir(), 'flash-fake-kernels90-'));
for (const file of ['fake.fatbin', 'fake90.fatbin']) writeFileSync(join(kernelDir, file), 'not a real fatbin');
writeFileSync(join(kernelDir, 'manifest.json'), JSON.stringify({ kernels: entries }));
process.env.FLASH_ATTN_KERNEL_DIR = kernelDir;

function newFake(options: { computeCapability?: readonly [number, number]; sharedMemoryPerBlockOptin?: number } = {}): FakeDriver {
  const fake = new FakeDriver({ ...options, kernels });
  useDriverForTesting(fake);
  return fake;
}

const savedEnv = { kernels: process.env.FLASH_ATTN_KERNELS, log: process.env.FLASH_ATTN_LOG };
const restore = (name: string, value: string | undefined) => (value === undefined ? delete process.env[name] : (process.env[name] = value));
beforeEach(() => {
  forgetManifestForTesting();
  delete process.env.FLASH_ATTN_KERNELS;
  delete process.env.FLASH_ATTN_LOG;
});
afterEach(() => {
  restore('FLASH_ATTN_KERNELS', savedEnv.kernels);
  restore('FLASH_ATTN_LOG', savedEnv.log);
});
after(() => {
  useDriverForTesting(undefined);
  rmSync(kernelDir, { recursive: true, force: true });
});

const inputs = (n: number, lq: number, lk: number, h: number, hk: number, d: number, dtype: 'float16' | 'bfloat16') => ({
  q: randn([n, lq, h, d], { seed: 1, dtype, device: 'cuda' }),
  k: randn([n, lk, hk, d], { seed: 2, dtype, device: 'cuda' }),
  v: randn([n, lk, hk, d], { seed: 3, dtype, device: 'cuda' }),
});
const pointerOf = (t: Tensor): bigint => (t.storage() as unknown as { pointer: bigint }).pointer;
const disposeAll = (...ts: Tensor[]) => ts.forEach((t) => t.dispose());

/** Everything written to stderr while `body` runs. */
function stderrOf(body: () => void): string {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    body();
  } finally {
    process.stderr.write = write;
  }
  return lines.join('');
}

// --- tests ---

test('cc 9.0: the forward encodes maps of q, k, v and launches the sm_90a kernel with FwdArgs; results as the reference', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [2, 200, 130, 4, 2, 96];
  const { q, k, v } = inputs(n, lq, lk, h, hk, d, 'bfloat16');
  const { out, lse } = flashMhaFwd(q, k, v, { isCausal: true });
  assert.equal(fake.launches.length, 1);
  const launch = fake.launches[0];
  assert.equal(launch.symbol, 'flash_fwd90_bf16_d128');
  assert.deepEqual(launch.grid, [Math.ceil(lq / 128), h, n]);
  assert.deepEqual([launch.threads, launch.sharedBytes, launch.params.length], [384, HOPPER_SMEM, FWD90_ARGS_SIZE]);
  assert.equal(fake.functionAttributes.get('flash_fwd90_bf16_d128:8'), HOPPER_SMEM, 'opted in to its shared memory');
  assert.ok(fake.tensorMapTargets.length === 3 && fake.tensorMapTargets.every((a) => a % 64n === 0n), 'maps written to 64-byte-aligned memory');

  const expected = {
    q: { address: pointerOf(q), dims: [d, lq, h, n], box: [64, 128, 1, 1] },
    k: { address: pointerOf(k), dims: [d, lk, hk, n], box: [64, 96, 1, 1] },
    v: { address: pointerOf(v), dims: [d, lk, hk, n], box: [64, 96, 1, 1] },
  };
  for (const name of FWD90_MAPS) {
    const at = FWD90_ARGS_OFFSETS[name];
    const map = decodeFakeTensorMap(launch.params.subarray(at, at + CU_TENSOR_MAP_BYTES));
    const [, rows, heads] = expected[name].dims;
    assert.equal(map.globalAddress, expected[name].address, `${name}: address`);
    assert.deepEqual(map.globalDim, expected[name].dims.map(BigInt), `${name}: dims`);
    assert.deepEqual(map.globalStrides, [heads * d * 2, d * 2, rows * heads * d * 2].map(BigInt), `${name}: strides`);
    assert.deepEqual(map.boxDim, expected[name].box, `${name}: box`);
    assert.deepEqual(map.elementStrides, [1, 1, 1, 1]);
    // UINT16, rank 4, no interleave, 128B swizzle, 256B L2 promotion, zero fill
    assert.deepEqual(map.settings, [1, 4, 0, 3, 3, 0], `${name}: settings`);
  }
  const p = decodeParams(new DataView(launch.params.buffer), FWD90_ARGS_OFFSETS.p);
  assert.deepEqual([p.q, p.k, p.v, p.o, p.lse], [pointerOf(q), pointerOf(k), pointerOf(v), pointerOf(out), pointerOf(lse)]);
  assert.deepEqual([p.n, p.lq, p.lk, p.h, p.hk, p.d, p.window_right, p.diagonal_offset], [n, lq, lk, h, hk, d, 0, lk - lq]);

  const mask = { n, lq, lk, h, hk, d, softmaxScale: Math.fround(1 / Math.sqrt(d)), windowLeft: -1, windowRight: 0, diagonalOffset: lk - lq };
  const ref = referenceForward(mask, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array());
  assert.deepEqual(await out.data(), encodeArray(ref.o, 'bfloat16'));

  // The backward reads that lse with the sm_80 kernels.
  const g = flashMhaBwd(out, q, k, v, out, lse, { isCausal: true });
  assert.deepEqual(fake.launches.slice(1).map((l) => l.symbol), ['flash_bwd_pre_bf16_d128', 'flash_bwd_bf16_d128', 'flash_bwd_dq_bf16_d128']);
  disposeAll(q, k, v, out, lse, g.dq, g.dk, g.dv);
  assert.equal(fake.memory.usedBytes, 0);
});

test('falls back to the sm_80 forward: d = 59, another compute capability, too little shared memory, FLASH_ATTN_KERNELS=sm80', () => {
  const cases: [string, Parameters<typeof newFake>[0], number, string][] = [
    ['d = 59', {}, 59, 'flash_fwd_f16_d64'],
    ['cc 8.0', { computeCapability: [8, 0] }, 64, 'flash_fwd_f16_d64'],
    ['cc 10.0', { computeCapability: [10, 0] }, 64, 'flash_fwd_f16_d64'],
    ['99 KB of shared memory', { sharedMemoryPerBlockOptin: 99 * 1024 }, 128, 'flash_fwd_f16_d128'],
    ['FLASH_ATTN_KERNELS=sm80', {}, 64, 'flash_fwd_f16_d64'],
  ];
  for (const [name, device, d, symbol] of cases) {
    if (name.startsWith('FLASH_ATTN_KERNELS')) process.env.FLASH_ATTN_KERNELS = 'sm80';
    const fake = newFake(device);
    const { q, k, v } = inputs(1, 33, 40, 2, 1, d, 'float16');
    const { out, lse } = flashMhaFwd(q, k, v);
    assert.deepEqual(fake.launches.map((l) => l.symbol), [symbol], name);
    assert.equal(fake.launches[0].params.length, FLASH_PARAMS_SIZE, `${name}: a plain FlashParams`);
    assert.deepEqual(fake.tensorMapTargets, [], `${name}: no map encoded`);
    disposeAll(q, k, v, out, lse);
  }
});

test('ring attention asks for float32 o: the Hopper forward serves it too, with out_float32 set', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [1, 9, 12, 2, 1, 64];
  const { q, k, v } = inputs(n, lq, lk, h, hk, d, 'float16');
  const p = { n, lq, lk, h, hk, d, dtype: 'float16', device: 'cuda:0', softmaxScale: 0.125, windowLeft: -1, windowRight: -1, diagonalOffset: 0, outDtype: 'float32', deterministic: false } as const;
  const { out, lse } = cudaForward(p, q.storage(), k.storage(), v.storage());
  assert.deepEqual(fake.launches.map((l) => l.symbol), ['flash_fwd90_f16_d64']);
  assert.equal(decodeParams(new DataView(fake.launches[0].params.buffer), FWD90_ARGS_OFFSETS.p).out_float32, 1);
  const ref = referenceForward(p, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array());
  assert.deepEqual(await out.read(), Float32Array.from(ref.o));
  out.dispose();
  lse.dispose();
  disposeAll(q, k, v);
});

test('an invalid FLASH_ATTN_KERNELS fails the call with an OptionError before any launch; a failing encode is a CudaError', () => {
  const fake = newFake();
  const { q, k, v } = inputs(1, 8, 8, 1, 1, 64, 'float16');
  process.env.FLASH_ATTN_KERNELS = 'sm90';
  assert.throws(() => flashMhaFwd(q, k, v), (e: unknown) => e instanceof OptionError && /FLASH_ATTN_KERNELS: expected 'sm80'.*got 'sm90'/.test(e.message));
  assert.throws(() => explain(q, k, v), OptionError);
  delete process.env.FLASH_ATTN_KERNELS;
  fake.failures.set('cuTensorMapEncodeTiled', 1);
  assert.throws(
    () => flashMhaFwd(q, k, v),
    (e: unknown) => e instanceof CudaError && e.call === 'cuTensorMapEncodeTiled' && e.driverName === 'CUDA_ERROR_INVALID_VALUE',
  );
  fake.failures.clear();
  assert.equal(fake.launches.length, 0);
  disposeAll(q, k, v);
  assert.equal(fake.memory.usedBytes, 0, 'outputs allocated before the throws were freed');
});

test('FLASH_ATTN_LOG=1: one stderr line per launch naming device, phase, kernel, arch and grid; silent otherwise', () => {
  newFake();
  const { q, k, v } = inputs(2, 300, 300, 4, 4, 128, 'bfloat16');
  const silent = stderrOf(() => disposeAll(...Object.values(flashMhaFwd(q, k, v))));
  assert.equal(silent, '');
  process.env.FLASH_ATTN_LOG = '1';
  const log = stderrOf(() => {
    const { out, lse } = flashMhaFwd(q, k, v);
    const g = flashMhaBwd(out, q, k, v, out, lse);
    disposeAll(out, lse, g.dq, g.dk, g.dv);
  });
  assert.deepEqual(log.trim().split('\n'), [
    'flash-attn: cuda:0 fwd flash_fwd90_bf16_d128 (sm_90a) grid 3x4x2',
    'flash-attn: cuda:0 bwd_pre flash_bwd_pre_bf16_d128 (sm_80) grid 19x4x2',
    'flash-attn: cuda:0 bwd flash_bwd_bf16_d128 (sm_80) grid 5x4x2',
    'flash-attn: cuda:0 bwd_dq flash_bwd_dq_bf16_d128 (sm_80) grid 19x4x2',
  ]);
  disposeAll(q, k, v);
});

test('explain names what the calls launch, without launching or allocating; FLASH_ATTN_KERNELS=sm80 names the sm_80 forward', () => {
  const fake = newFake();
  const { q, k, v } = inputs(2, 300, 300, 4, 4, 128, 'bfloat16');
  const odd = inputs(1, 5, 7, 1, 1, 59, 'bfloat16');
  const empty = inputs(1, 0, 7, 1, 1, 64, 'bfloat16');
  const used = fake.memory.usedBytes;
  const backward = ['flash_bwd_pre_bf16_d128 (sm_80)', 'flash_bwd_bf16_d128 (sm_80)', 'flash_bwd_dq_bf16_d128 (sm_80)'];
  assert.deepEqual(explain(q, k, v), {
    backend: 'cuda',
    device: 'cuda:0',
    forward: ['flash_fwd90_bf16_d128 (sm_90a)'],
    backward,
    reason: 'compute capability 9.0: the Hopper forward (sm_90a) applies; the backward runs the sm_80 kernels',
  });
  process.env.FLASH_ATTN_KERNELS = 'sm80';
  assert.deepEqual(explain(q, k, v, { isCausal: true }), {
    backend: 'cuda',
    device: 'cuda:0',
    forward: ['flash_fwd_bf16_d128 (sm_80)'],
    backward,
    reason: 'the sm_80 forward: FLASH_ATTN_KERNELS=sm80',
  });
  delete process.env.FLASH_ATTN_KERNELS;
  const plan = explain(odd.q, odd.k, odd.v);
  assert.deepEqual([plan.forward, plan.reason], [['flash_fwd_bf16_d64 (sm_80)'], 'the sm_80 forward: d = 59 is not a multiple of 8']);
  assert.deepEqual([explain(empty.q, empty.k, empty.v).forward, explain(empty.q, empty.k, empty.v).backward], [[], []]);
  assert.equal(fake.launches.length, 0);
  assert.equal(fake.memory.usedBytes, used);
  disposeAll(q, k, v, odd.q, odd.k, odd.v, empty.q, empty.k, empty.v);
});
