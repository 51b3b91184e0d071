// The Hopper kernels' host side over a fake driver (no GPU needed): on a 9.0 device with sm_90a entries in
// the manifest, the forward encodes three tensor maps and launches the sm_90a kernel with FwdArgs; the backward
// launches bwd_pre, the sm_90a bwd with BwdArgs (four maps) and bwd_dq or bwd_dq_det; every case the rules
// exclude runs the sm_80 kernels; FLASH_ATTN_KERNELS, FLASH_ATTN_LOG and explain().
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, test } from 'node:test';
import { BWD90_ARGS_OFFSETS, BWD90_ARGS_SIZE, BWD90_MAPS, FLASH_PARAMS_SIZE, FWD90_ARGS_OFFSETS, FWD90_ARGS_SIZE, FWD90_MAPS } from '../../src/backend/cuda/abi.js';
import { cudaBackward, cudaForward } from '../../src/backend/cuda/attention.js';
import { SIDE_PRE_MAX_KEYS } from '../../src/backend/cuda/backward.js';
import { CU_TENSOR_MAP_BYTES } from '../../src/backend/cuda/driver.js';
import { cudaDevice, useDriverForTesting } from '../../src/backend/cuda/runtime.js';
import { TILE_COUNTERS_PER_RING, TILE_COUNTER_RING_BYTES } from '../../src/backend/cuda/tile-counter.js';
import { attentionTensorMap } from '../../src/backend/cuda/tma.js';
import { forgetManifestForTesting } from '../../src/backend/cuda/table.js';
import { encodeArray } from '../../src/dtype.js';
import { type AttentionOptions, CudaError, OptionError, SizeLimitError, Tensor, explain, flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { setEnv, withEnv } from '../support/env.js';
import { type Mask, referenceBackward, referenceForward } from '../support/reference.js';
import { stderrOf } from '../support/stderr.js';
import { FakeDriver, type FakeKernel, decodeFakeTensorMap } from './cuda-fake-driver.js';
import { type Phase, assertReferenceForward, decodeParams, emulated } from './cuda-fake-kernels.js';

// --- a fake build with both families: sm_80 kernels for every phase, the Hopper forward and backward for 64 and 128 ---

const SM80_SHAPES: Record<Exclude<Phase, 'bwd_pre_side'>, { tileRows: number; gridRows: 'lq' | 'lk'; gridHeads: 'h' | 'hk'; threads: number; smemBytes: number }> = {
  fwd: { tileRows: 128, gridRows: 'lq', gridHeads: 'h', threads: 128, smemBytes: 64 * 1024 },
  bwd_pre: { tileRows: 16, gridRows: 'lq', gridHeads: 'h', threads: 128, smemBytes: 0 },
  bwd: { tileRows: 64, gridRows: 'lk', gridHeads: 'hk', threads: 256, smemBytes: 80 * 1024 },
  bwd_dq: { tileRows: 16, gridRows: 'lq', gridHeads: 'h', threads: 128, smemBytes: 0 },
  bwd_dq_det: { tileRows: 64, gridRows: 'lq', gridHeads: 'h', threads: 128, smemBytes: 48 * 1024 },
};
const TAG = { float16: 'f16', bfloat16: 'bf16' } as const;
const HOPPER_SMEM = 164936;
/** More than the forward's, so that a limit between the two runs the Hopper forward and the sm_80 backward. */
const HOPPER_BWD_SMEM = 190464;
/** The backward's query rows per step, as the build writes them (d = 64: 128, d = 128: 64). */
const BWD_QUERY_ROWS: Record<number, number> = { 64: 128, 128: 64 };

/** bwd_pre_side beside the Hopper bwd (which then waitsForReadyRows): for float16 at d = 64 only. */
// bwd_pre_side for float16: at d = 64 unpaced (an older build's), at d = 128 marked pacedBlocks.
const sidePre = (dtype: string, _headDim: number) => dtype === 'float16';
const PACED_BLOCKS = 12;
// The paced side's rows per ready flag: not the main kernel's keys per item (128), so that the test tells them apart.
const PACED_SIDE_ROWS = 64;
const SIDE_ROWS = 128;

const entries: Record<string, unknown>[] = [];
const kernels: Record<string, FakeKernel> = {};
for (const dtype of ['float16', 'bfloat16'] as const) {
  for (const headDim of [64, 128]) {
    for (const phase of Object.keys(SM80_SHAPES) as (keyof typeof SM80_SHAPES)[]) {
      const symbol = `flash_${phase}_${TAG[dtype]}_d${headDim}`;
      entries.push({
        file: 'fake.fatbin', symbol, arch: 'sm_80', phase, dtype, headDim, ...SM80_SHAPES[phase], waitsForPreviousGrid: true,
        ...(phase === 'bwd_pre' ? { accumOptional: true } : {}),
        ...(phase === 'bwd_dq' && sidePre(dtype, headDim) ? { waitsForReadyRows: true } : {}),
      });
      kernels[symbol] = emulated(phase, dtype);
    }
    const symbol = `flash_fwd90_${TAG[dtype]}_d${headDim}`;
    entries.push({
      file: 'fake90.fatbin', symbol, arch: 'sm_90a', phase: 'fwd', dtype, headDim, threads: 384,
      smemBytes: HOPPER_SMEM, tileRows: 128, keyTileRows: headDim === 64 ? 128 : 96, outBoxRows: 16, gridRows: 'lq',
      gridHeads: 'h', persistent: true, waitsForPreviousGrid: true,
    });
    kernels[symbol] = emulated('fwd', dtype, FWD90_ARGS_OFFSETS.p);
    const bwd = `flash_bwd90_${TAG[dtype]}_d${headDim}`;
    entries.push({
      file: 'fake90.fatbin', symbol: bwd, arch: 'sm_90a', phase: 'bwd', dtype, headDim, threads: 384, smemBytes: HOPPER_BWD_SMEM,
      tileRows: 128, keyTileRows: 128, queryTileRows: BWD_QUERY_ROWS[headDim], dqBoxRows: 16, gridRows: 'lk', gridHeads: 'hk',
      persistent: true, waitsForPreviousGrid: true, ...(headDim === 64 || sidePre(dtype, headDim) ? { countsDqItems: true } : {}),
      ...(sidePre(dtype, headDim) ? { waitsForReadyRows: true } : {}),
    });
    kernels[bwd] = emulated('bwd', dtype, BWD90_ARGS_OFFSETS.p);
    if (sidePre(dtype, headDim)) {
      const side = `flash_bwd_pre_side_${TAG[dtype]}_d${headDim}`;
      entries.push({
        file: 'fake.fatbin', symbol: side, arch: 'sm_80', phase: 'bwd_pre_side', dtype, headDim, threads: 1024, smemBytes: 0,
        tileRows: headDim === 128 ? PACED_SIDE_ROWS : SIDE_ROWS, gridRows: 'lq', gridHeads: 'h', multiprocessorsPerBlock: 3,
        waitsForPreviousGrid: true, ...(headDim === 128 ? { pacedBlocks: PACED_BLOCKS } : {}),
      });
      kernels[side] = emulated('bwd_pre_side', dtype);
    }
  }
  // The Hopper dq pass of the deterministic backward: for bfloat16 at d = 64 reading through the bwd's maps and
  // computing D itself (this tree's), at d = 128 built for other query box rows than the bwd's, so that the sm_80
  // bwd_dq_det must run there; for float16 at d = 128 as an older build's (reading D from bwd_pre, so run last).
  const dqPasses = dtype === 'bfloat16' ? ([[64, 128, true], [128, 128, true]] as const) : ([[128, 64, false]] as const);
  for (const [headDim, queryTileRows, computesD] of dqPasses) {
    const symbol = `flash_bwd_dq_det90_${TAG[dtype]}_d${headDim}`;
    entries.push({
      file: 'fake90.fatbin', symbol, arch: 'sm_90a', phase: 'bwd_dq_det', dtype, headDim, threads: 384,
      smemBytes: HOPPER_BWD_SMEM, tileRows: 128, keyTileRows: 128, queryTileRows, gridRows: 'lq', gridHeads: 'h',
      waitsForPreviousGrid: true, ...(computesD ? { computesD: true } : {}),
    });
    kernels[symbol] = emulated('bwd_dq_det', dtype, BWD90_ARGS_OFFSETS.p, { computesD });
  }
}

const kernelDir = mkdtempSync(join(tmpdir(), 'flash-fake-kernels90-'));
for (const file of ['fake.fatbin', 'fake90.fatbin']) writeFileSync(join(kernelDir, file), 'not a real fatbin');
writeFileSync(join(kernelDir, 'manifest.json'), JSON.stringify({ kernels: entries }));
process.env.FLASH_ATTN_KERNEL_DIR = kernelDir;

/** New allocations hold NaN (0xff bytes), so that a kernel reading a workspace before its writer ran fails. */
function newFake(options: { computeCapability?: readonly [number, number]; sharedMemoryPerBlockOptin?: number; launchKernelEx?: boolean } = {}): FakeDriver {
  const fake = new FakeDriver({ ...options, kernels, allocationFill: 0xff });
  useDriverForTesting(fake);
  return fake;
}

/** After a persistent launch the device keeps its ring of tile counters (freed with the device), and nothing else. */
function assertOnlyCounterRingLeft(fake: FakeDriver): void {
  assert.equal(fake.memory.usedBytes, TILE_COUNTER_RING_BYTES, 'all device memory back in the pool but the tile-counter ring');
  useDriverForTesting(undefined);
  assert.equal(fake.memory.usedBytes, 0, 'the ring is freed with the device');
}

// Each test starts with these unset; afterEach puts back the earlier values, whatever the test set meanwhile.
let restoreEnv = () => {};
beforeEach(() => {
  forgetManifestForTesting();
  restoreEnv = setEnv({ FLASH_ATTN_KERNELS: undefined, FLASH_ATTN_LOG: undefined, FLASH_ATTN_PDL: undefined });
});
afterEach(() => restoreEnv());
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

// --- tests ---

test('cc 9.0: the forward encodes maps of q, k, v, o and launches the sm_90a kernel with FwdArgs; results as the reference', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [2, 200, 130, 4, 2, 96];
  const { q, k, v } = inputs(n, lq, lk, h, hk, d, 'bfloat16');
  const { out, lse } = flashMhaFwd(q, k, v, { isCausal: true });
  assert.equal(fake.launches.length, 1);
  const launch = fake.launches[0];
  assert.equal(launch.symbol, 'flash_fwd90_bf16_d128');
  assert.deepEqual(launch.grid, [Math.ceil(lq / 128) * h * n, 1, 1], 'persistent: one block per tile while there are fewer tiles than multiprocessors');
  assert.deepEqual([launch.threads, launch.sharedBytes, launch.params.length], [384, HOPPER_SMEM, FWD90_ARGS_SIZE]);
  assert.equal(fake.functionAttributes.get('flash_fwd90_bf16_d128:8'), HOPPER_SMEM, 'opted in to its shared memory');
  assert.ok(fake.tensorMapTargets.length === 4 && fake.tensorMapTargets.every((a) => a % 64n === 0n), 'maps written to 64-byte-aligned memory');

  const expected = {
    q: { address: pointerOf(q), dims: [d, lq, h, n], box: [64, 128, 1, 1] },
    k: { address: pointerOf(k), dims: [d, lk, hk, n], box: [64, 96, 1, 1] },
    v: { address: pointerOf(v), dims: [d, lk, hk, n], box: [64, 96, 1, 1] },
    o: { address: pointerOf(out), dims: [d, lq, h, n], box: [64, 16, 1, 1] },
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
  await assertReferenceForward(mask, { q, k, v }, out);

  disposeAll(q, k, v, out, lse);
  assertOnlyCounterRingLeft(fake);
});

test('cc 9.0: maps are remembered per device: a second forward on the same q, k, v encodes only the new o', () => {
  const fake = newFake();
  const { q, k, v } = inputs(1, 64, 64, 2, 2, 64, 'bfloat16');
  const first = flashMhaFwd(q, k, v);
  const second = flashMhaFwd(q, k, v);
  assert.notEqual(pointerOf(first.out), pointerOf(second.out), "the fake's pool never hands an address back");
  assert.equal(fake.tensorMapTargets.length, 4 + 1, 'q, k, v, o; then o alone');
  const mapsOf = (params: Uint8Array) => FWD90_MAPS.map((name) => params.subarray(FWD90_ARGS_OFFSETS[name], FWD90_ARGS_OFFSETS[name] + CU_TENSOR_MAP_BYTES));
  const [a, b] = fake.launches.map((launch) => mapsOf(launch.params));
  for (const i of [0, 1, 2]) assert.deepEqual(b[i], a[i], `${FWD90_MAPS[i]}: the remembered map is the one the driver wrote`);
  assert.equal(decodeFakeTensorMap(b[3]).globalAddress, pointerOf(second.out));
  disposeAll(q, k, v, first.out, first.lse, second.out, second.lse);
  assertOnlyCounterRingLeft(fake);
});

test('a failing encode is not remembered: the next call with the same arguments asks the driver again', () => {
  const fake = newFake();
  const device = cudaDevice('cuda:0');
  const geometry = attentionTensorMap({ n: 1, rows: 64, heads: 2, d: 64 }, 128);
  fake.failures.set('cuTensorMapEncodeTiled', 1);
  assert.throws(() => device.encodeTensorMap(geometry, 0x10000n), CudaError);
  fake.failures.delete('cuTensorMapEncodeTiled');
  const bytes = device.encodeTensorMap(geometry, 0x10000n);
  assert.equal(fake.tensorMapTargets.length, 2, 'the failed call, then a second one');
  assert.deepEqual(device.encodeTensorMap(geometry, 0x10000n), bytes);
  assert.equal(fake.tensorMapTargets.length, 2, 'the third is remembered');
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
    withEnv({ FLASH_ATTN_KERNELS: name.startsWith('FLASH_ATTN_KERNELS') ? 'sm80' : undefined }, () => {
      const fake = newFake(device);
      const { q, k, v } = inputs(1, 33, 40, 2, 1, d, 'float16');
      const { out, lse } = flashMhaFwd(q, k, v);
      assert.deepEqual(fake.launches.map((l) => l.symbol), [symbol], name);
      assert.equal(fake.launches[0].params.length, FLASH_PARAMS_SIZE, `${name}: a plain FlashParams`);
      assert.deepEqual(fake.tensorMapTargets, [], `${name}: no map encoded`);
      disposeAll(q, k, v, out, lse);
    });
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
  // The kernel stores float32 o itself, but its parameter still holds o's map: over float32 data, 32-column boxes.
  const at = FWD90_ARGS_OFFSETS.o;
  const map = decodeFakeTensorMap(fake.launches[0].params.subarray(at, at + CU_TENSOR_MAP_BYTES));
  assert.equal(map.globalAddress, (out as unknown as { pointer: bigint }).pointer);
  assert.deepEqual(map.globalStrides, [h * d * 4, d * 4, lq * h * d * 4].map(BigInt));
  assert.deepEqual([map.boxDim, map.settings[0]], [[32, 16, 1, 1], 7], 'FLOAT32');
  const ref = referenceForward(p, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array());
  assert.deepEqual(await out.read(), Float32Array.from(ref.o));
  out.dispose();
  lse.dispose();
  disposeAll(q, k, v);
});

test('an invalid FLASH_ATTN_KERNELS fails the call with an OptionError before any launch; a failing encode is a CudaError', () => {
  const fake = newFake();
  const { q, k, v } = inputs(1, 8, 8, 1, 1, 64, 'float16');
  withEnv({ FLASH_ATTN_KERNELS: 'sm90' }, () => {
    assert.throws(() => flashMhaFwd(q, k, v), (e: unknown) => e instanceof OptionError && /FLASH_ATTN_KERNELS: expected 'sm80'.*got 'sm90'/.test(e.message));
    assert.throws(() => explain(q, k, v), OptionError);
  });
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

test('cc 9.0: each persistent launch reads a counter of its own that is 0 at its launch, from a ring zeroed when it comes round and freed with the device', () => {
  const seen: { symbol: string; counter: bigint; value: number }[] = [];
  // Like the real kernels, each launch leaves its counter above 0 (the blocks' claims).
  const watched = (symbol: string, paramsOffset: number): FakeKernel => (params, memory) => {
    const counter = BigInt(decodeParams(params, paramsOffset).tile_counter);
    const bytes = counter === 0n ? undefined : memory.view(counter, 4);
    const word = bytes && new DataView(bytes.buffer, bytes.byteOffset, 4);
    seen.push({ symbol, counter, value: word === undefined ? -1 : word.getUint32(0, true) });
    word?.setUint32(0, 1000, true);
    kernels[symbol](params, memory);
  };
  const fake = new FakeDriver({
    kernels: {
      ...kernels,
      flash_fwd90_bf16_d128: watched('flash_fwd90_bf16_d128', FWD90_ARGS_OFFSETS.p),
      flash_bwd90_bf16_d128: watched('flash_bwd90_bf16_d128', BWD90_ARGS_OFFSETS.p),
    },
  });
  useDriverForTesting(fake);
  const { q, k, v } = inputs(2, 300, 300, 4, 4, 128, 'bfloat16');
  const start = fake.memory.usedBytes;
  for (let i = 0; i < 2; i++) {
    const { out, lse } = flashMhaFwd(q, k, v, { isCausal: i === 1 });
    const g = flashMhaBwd(out, q, k, v, out, lse, { isCausal: i === 1 });
    disposeAll(out, lse, g.dq, g.dk, g.dv);
  }
  assert.deepEqual(seen.map((s) => s.symbol), ['flash_fwd90_bf16_d128', 'flash_bwd90_bf16_d128', 'flash_fwd90_bf16_d128', 'flash_bwd90_bf16_d128']);
  assert.equal(new Set(seen.map((s) => s.counter)).size, 4, 'four launches, four counters');
  assert.equal(fake.memory.usedBytes, start + TILE_COUNTER_RING_BYTES, 'one ring, allocated once');

  // Round the ring more than once: every launch still finds its counter at 0, and the ring does not grow.
  const small = inputs(1, 8, 8, 1, 1, 128, 'bfloat16');
  for (let i = 0; i < TILE_COUNTERS_PER_RING + 10; i++) disposeAll(...Object.values(flashMhaFwd(small.q, small.k, small.v)));
  assert.equal(seen.length, TILE_COUNTERS_PER_RING + 14);
  for (const { counter, value } of seen) {
    assert.notEqual(counter, 0n, 'a counter address is passed');
    assert.equal(value, 0, 'zeroed before the launch');
  }
  assert.equal(new Set(seen.map((s) => s.counter)).size, TILE_COUNTERS_PER_RING, 'the ring is reused');
  disposeAll(q, k, v, small.q, small.k, small.v);
  assertOnlyCounterRingLeft(fake);
});

test('programmatic dependent launch: on cc 9.x every kernel of a forward and a backward may overlap the one before; not with FLASH_ATTN_PDL=0, an older driver, another compute capability or an older build', () => {
  const cases: [string, Parameters<typeof newFake>[0], string | undefined, boolean][] = [
    ['cc 9.0', {}, undefined, true],
    ['cc 9.0, FLASH_ATTN_PDL=1', {}, '1', true],
    ['cc 9.0, FLASH_ATTN_PDL=0', {}, '0', false],
    ['cc 9.0, a driver without cuLaunchKernelEx', { launchKernelEx: false }, undefined, false],
    // The sm_80 family runs from its compute_80 PTX there, which has no griddepcontrol.wait.
    ['cc 10.0', { computeCapability: [10, 0] }, undefined, false],
    ['cc 8.0', { computeCapability: [8, 0] }, undefined, false],
  ];
  for (const [name, device, setting, overlap] of cases) {
    withEnv({ FLASH_ATTN_PDL: setting }, () => {
      const fake = newFake(device);
      const { q, k, v } = inputs(1, 70, 70, 2, 1, 64, 'bfloat16');
      const { out, lse } = flashMhaFwd(q, k, v, { isCausal: true });
      const dout = randn([1, 70, 2, 64], { seed: 4, dtype: 'bfloat16', device: 'cuda' });
      const { dq, dk, dv } = flashMhaBwd(dout, q, k, v, out, lse, { isCausal: true });
      const hopper = name.startsWith('cc 9.0');
      assert.deepEqual(
        fake.launches.map((l) => l.symbol),
        hopper
          ? ['flash_fwd90_bf16_d64', 'flash_bwd_pre_bf16_d64', 'flash_bwd90_bf16_d64', 'flash_bwd_dq_bf16_d64']
          : ['flash_fwd_bf16_d64', 'flash_bwd_pre_bf16_d64', 'flash_bwd_bf16_d64', 'flash_bwd_dq_bf16_d64'],
        name,
      );
      assert.deepEqual(fake.launches.map((l) => l.overlapPrevious), [overlap, overlap, overlap, overlap], name);
      assert.equal(fake.calls.includes('cuLaunchKernel'), !overlap, `${name}: plain launches exactly where no overlap`);
      disposeAll(q, k, v, out, lse, dout, dq, dk, dv);
    });
  }
  // A build from before the kernels waited (no waitsForPreviousGrid in its manifest) is launched plainly.
  const oldBuild = mkdtempSync(join(tmpdir(), 'flash-fake-kernels90-old-'));
  try {
    for (const file of ['fake.fatbin', 'fake90.fatbin']) writeFileSync(join(oldBuild, file), 'not a real fatbin');
    const withoutWaits = entries.map((entry) => ({ ...entry, waitsForPreviousGrid: undefined }));
    writeFileSync(join(oldBuild, 'manifest.json'), JSON.stringify({ kernels: withoutWaits }));
    withEnv({ FLASH_ATTN_KERNEL_DIR: oldBuild }, () => {
      forgetManifestForTesting();
      const fake = newFake();
      const { q, k, v } = inputs(1, 70, 70, 2, 1, 64, 'bfloat16');
      const { out, lse } = flashMhaFwd(q, k, v);
      assert.deepEqual(fake.launches.map((l) => [l.symbol, l.overlapPrevious]), [['flash_fwd90_bf16_d64', false]], 'an older build');
      disposeAll(q, k, v, out, lse);
    });
  } finally {
    forgetManifestForTesting();
    rmSync(oldBuild, { recursive: true, force: true });
  }

  process.env.FLASH_ATTN_PDL = 'yes';
  const fake = newFake();
  assert.throws(() => inputs(1, 8, 8, 1, 1, 64, 'bfloat16'), (e: unknown) => e instanceof OptionError && /FLASH_ATTN_PDL: expected '0'.*got 'yes'/.test(e.message));
  assert.equal(fake.contextsRetained, fake.contextsReleased, 'the device that could not be set up let its context go');
});

test('FLASH_ATTN_LOG=1: one stderr line per launch naming device, phase, kernel, arch and grid, as explain names them; silent otherwise', () => {
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
  const lines = log.trim().split('\n');
  assert.deepEqual(lines, [
    'flash-attn: cuda:0 fwd flash_fwd90_bf16_d128 (sm_90a) grid 24x1x1',
    'flash-attn: cuda:0 bwd_pre flash_bwd_pre_bf16_d128 (sm_80) grid 19x4x2',
    'flash-attn: cuda:0 bwd flash_bwd90_bf16_d128 (sm_90a) grid 24x1x1',
    'flash-attn: cuda:0 bwd_dq flash_bwd_dq_bf16_d128 (sm_80) grid 19x4x2',
  ]);
  const plan = explain(q, k, v);
  assert.deepEqual(lines.map((line) => / (\S+ \(\S+\)) grid /.exec(line)?.[1]), [...plan.forward, ...plan.backward]);
  disposeAll(q, k, v);
});

test('explain names what the calls launch, without launching or allocating; FLASH_ATTN_KERNELS=sm80 names the sm_80 kernels', () => {
  const fake = newFake();
  const { q, k, v } = inputs(2, 300, 300, 4, 4, 128, 'bfloat16');
  const odd = inputs(1, 5, 7, 1, 1, 59, 'bfloat16');
  const empty = inputs(1, 0, 7, 1, 1, 64, 'bfloat16');
  const used = fake.memory.usedBytes;
  assert.deepEqual(explain(q, k, v), {
    backend: 'cuda',
    device: 'cuda:0',
    forward: ['flash_fwd90_bf16_d128 (sm_90a)'],
    backward: ['flash_bwd_pre_bf16_d128 (sm_80)', 'flash_bwd90_bf16_d128 (sm_90a)', 'flash_bwd_dq_bf16_d128 (sm_80)'],
    reason: 'compute capability 9.0: the Hopper forward and backward (sm_90a) apply',
  });
  // The build's Hopper bwd_dq_det at d = 128 reads other query boxes than the bwd's maps hold: the sm_80 one runs.
  assert.deepEqual(explain(q, k, v, { deterministic: true }).backward, [
    'flash_bwd_pre_bf16_d128 (sm_80)',
    'flash_bwd90_bf16_d128 (sm_90a)',
    'flash_bwd_dq_det_bf16_d128 (sm_80)',
  ]);
  withEnv({ FLASH_ATTN_KERNELS: 'sm80' }, () =>
    assert.deepEqual(explain(q, k, v, { isCausal: true }), {
      backend: 'cuda',
      device: 'cuda:0',
      forward: ['flash_fwd_bf16_d128 (sm_80)'],
      backward: ['flash_bwd_pre_bf16_d128 (sm_80)', 'flash_bwd_bf16_d128 (sm_80)', 'flash_bwd_dq_bf16_d128 (sm_80)'],
      reason: 'the sm_80 forward and backward: FLASH_ATTN_KERNELS=sm80',
    }),
  );
  const plan = explain(odd.q, odd.k, odd.v);
  assert.deepEqual([plan.forward, plan.backward[1], plan.reason], [['flash_fwd_bf16_d64 (sm_80)'], 'flash_bwd_bf16_d64 (sm_80)', 'the sm_80 forward and backward: d = 59 is not a multiple of 8']);
  assert.deepEqual([explain(empty.q, empty.k, empty.v).forward, explain(empty.q, empty.k, empty.v).backward], [[], []]);
  assert.equal(fake.launches.length, 0);
  assert.equal(fake.memory.usedBytes, used);
  disposeAll(q, k, v, odd.q, odd.k, odd.v, empty.q, empty.k, empty.v);
});

test('explain says what the launches refuse: at h > 65535 the persistent Hopper forward runs, the backward\'s row passes cannot', () => {
  const fake = newFake();
  const { q, k, v } = inputs(1, 1, 1, 65536, 1, 64, 'bfloat16');
  const plan = explain(q, k, v);
  assert.deepEqual(plan.forward, ['flash_fwd90_bf16_d64 (sm_90a)']);
  assert.deepEqual(plan.backward, []);
  assert.equal(fake.launches.length, 0);
  const { out, lse } = flashMhaFwd(q, k, v);
  assert.deepEqual(fake.launches.map((l) => l.symbol), ['flash_fwd90_bf16_d64']);
  assert.throws(
    () => flashMhaBwd(out, q, k, v, out, lse),
    (e: unknown) => e instanceof SizeLimitError && /at most 65535 each; got 65536 heads and n = 1$/.test(e.message) && plan.reason.endsWith(`; the backward would be refused: ${e.message}`),
  );
  disposeAll(q, k, v, out, lse);
});

test('explain with room for the Hopper forward but not the Hopper backward names both families and says why', () => {
  newFake({ sharedMemoryPerBlockOptin: 180 * 1024 });
  const { q, k, v } = inputs(1, 64, 64, 2, 2, 128, 'float16');
  const plan = explain(q, k, v);
  assert.deepEqual(plan.forward, ['flash_fwd90_f16_d128 (sm_90a)']);
  assert.deepEqual(plan.backward, ['flash_bwd_pre_f16_d128 (sm_80)', 'flash_bwd_f16_d128 (sm_80)', 'flash_bwd_dq_f16_d128 (sm_80)']);
  assert.equal(
    plan.reason,
    `compute capability 9.0: the Hopper forward (sm_90a) applies; the sm_80 backward: flash_bwd90_f16_d128 needs ${HOPPER_BWD_SMEM} bytes of shared memory per block, and this device allows ${180 * 1024}`,
  );
  disposeAll(q, k, v);
});

// --- the backward ---

const bwdInputs = (n: number, lq: number, lk: number, h: number, hk: number, d: number, dtype: 'float16' | 'bfloat16') => ({
  ...inputs(n, lq, lk, h, hk, d, dtype),
  dout: randn([n, lq, h, d], { seed: 4, dtype, device: 'cuda' }),
});

/** The float64 gradients of the fake kernels' inputs. */
async function referenceGradients(mask: Mask, t: { q: Tensor; k: Tensor; v: Tensor; dout: Tensor }) {
  return referenceBackward(mask, await t.q.toFloat32Array(), await t.k.toFloat32Array(), await t.v.toFloat32Array(), await t.dout.toFloat32Array());
}

type Shape = readonly [n: number, lq: number, lk: number, h: number, hk: number, d: number];
/** A forward on new inputs, then the backward a test inspects: the fake's counts just before the backward, its
 * launches and allocations alone, and a dispose of every tensor the call made. */
function backwardCall(fake: FakeDriver, [n, lq, lk, h, hk, d]: Shape, dtype: 'float16' | 'bfloat16', options: AttentionOptions) {
  const t = bwdInputs(n, lq, lk, h, hk, d, dtype);
  const { out, lse } = flashMhaFwd(t.q, t.k, t.v, options);
  const before = {
    launches: fake.launches.length, encoded: fake.tensorMapTargets.length, used: fake.memory.usedBytes,
    calls: fake.calls.length, allocated: fake.memory.allocatedBytes.length,
  };
  const g = flashMhaBwd(t.dout, t.q, t.k, t.v, out, lse, options);
  return {
    t, out, lse, g, before,
    launches: fake.launches.slice(before.launches),
    allocations: fake.memory.allocatedBytes.slice(before.allocated),
    dispose: () => disposeAll(t.q, t.k, t.v, t.dout, out, lse, g.dq, g.dk, g.dv),
  };
}

/** The call's gradients `names` as the float64 reference under `mask` rounds to `dtype`. dqThroughAccum: dq went
 * through the float32 dq_accum (bwd_dq rounds it), so it is rounded twice. */
async function assertGradients(call: ReturnType<typeof backwardCall>, mask: Mask, dtype: 'float16' | 'bfloat16', names: readonly ('dq' | 'dk' | 'dv')[], dqThroughAccum: boolean) {
  const ref = await referenceGradients(mask, call.t);
  for (const name of names) {
    const want = name === 'dq' && dqThroughAccum ? Float32Array.from(ref.dq) : ref[name];
    assert.deepEqual(await call.g[name].data(), encodeArray(want, dtype), name);
  }
  return ref;
}

test('n > 65535 runs as launches of at most 65535 batch entries, each over its entries of every tensor; results as the reference', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [65535 + 3, 3, 2, 1, 1, 8];
  // Causal with lq > lk: the first query of each entry sees no key.
  const call = backwardCall(fake, [n, lq, lk, h, hk, d], 'bfloat16', { isCausal: true });
  const forwards = fake.launches.slice(0, call.before.launches).filter((l) => l.symbol.startsWith('flash_fwd'));
  assert.deepEqual(forwards.map((l) => decodeParams(new DataView(l.params.buffer), FWD90_ARGS_OFFSETS.p).n), [65535, 3]);
  const [first, second] = forwards.map((l) => decodeParams(new DataView(l.params.buffer), FWD90_ARGS_OFFSETS.p));
  assert.equal(second.o - first.o, BigInt(65535 * lq * h * d * 2), "the second launch's o starts past the first's entries");
  assert.equal(second.lse - first.lse, BigInt(65535 * h * lq * 4));
  assert.deepEqual(call.launches.map((l) => l.symbol), [
    'flash_bwd_pre_bf16_d64', 'flash_bwd90_bf16_d64', 'flash_bwd_dq_bf16_d64',
    'flash_bwd_pre_bf16_d64', 'flash_bwd90_bf16_d64', 'flash_bwd_dq_bf16_d64',
  ]);
  assert.deepEqual(call.launches.map((l) => l.grid[2]).filter((_, i) => i % 3 === 0), [65535, 3], "bwd_pre's gridDim.z: the entries of its launch");
  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: Math.fround(1 / Math.sqrt(d)), windowLeft: -1, windowRight: 0, diagonalOffset: lk - lq };
  const [qf, kf, vf] = await Promise.all([call.t.q, call.t.k, call.t.v].map((t) => t.toFloat32Array()));
  const ref = referenceForward(mask, qf, kf, vf);
  assert.deepEqual(await call.out.data(), encodeArray(ref.o, 'bfloat16'), 'o');
  assert.deepEqual(await call.lse.toFloat32Array(), Float32Array.from(ref.lse), 'lse');
  await assertGradients(call, mask, 'bfloat16', ['dq', 'dk', 'dv'], true);
  assert.match(explain(call.t.q, call.t.k, call.t.v, { isCausal: true }).reason, /; n = 65538 runs as 2 launches of each kernel, of at most 65535 batch entries$/);
  call.dispose();
});

test('cc 9.0: the backward launches bwd_pre, the sm_90a bwd with BwdArgs (maps of q, k, v, dout, dq_accum), bwd_dq; gradients as the reference', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [2, 200, 300, 4, 2, 96];
  const call = backwardCall(fake, [n, lq, lk, h, hk, d], 'bfloat16', { windowSize: [40, 7] });
  const { t, lse, g, launches, before } = call;
  assert.equal(fake.memory.usedBytes, before.used + 2 * (n * lq * h * d + 2 * n * lk * hk * d), 'the workspaces are freed; only the gradients stay');

  assert.deepEqual(launches.map((l) => l.symbol), ['flash_bwd_pre_bf16_d128', 'flash_bwd90_bf16_d128', 'flash_bwd_dq_bf16_d128']);
  const [pre, main, last] = launches;
  assert.deepEqual(main.grid, [Math.ceil(lk / 128) * hk * n, 1, 1], 'persistent: one block per item while there are fewer items than multiprocessors');
  assert.deepEqual([main.threads, main.sharedBytes, main.params.length], [384, HOPPER_BWD_SMEM, BWD90_ARGS_SIZE]);
  assert.equal(fake.functionAttributes.get('flash_bwd90_bf16_d128:8'), HOPPER_BWD_SMEM, 'opted in to its shared memory');
  assert.deepEqual([pre.grid, last.grid], [[Math.ceil(lq / 16), h, n], [Math.ceil(lq / 16), h, n]]);
  assert.deepEqual([pre.params.length, last.params.length], [FLASH_PARAMS_SIZE, FLASH_PARAMS_SIZE]);
  assert.equal(fake.tensorMapTargets.length - before.encoded, 5, 'five maps encoded for the backward');
  // BwdArgs carries the very FlashParams the sm_80 phases get (the workspaces they share included), and the counter
  // its persistent blocks claim items from.
  const { tile_counter: counter, ...mainParams } = decodeParams(new DataView(main.params.buffer), BWD90_ARGS_OFFSETS.p);
  const { tile_counter: preCounter, ...preParams } = decodeParams(new DataView(pre.params.buffer));
  assert.deepEqual(mainParams, preParams);
  assert.notEqual(counter, 0n, 'a counter address is passed');
  assert.equal(preCounter, 0n);
  assert.deepEqual(last.params, pre.params);
  const p = decodeParams(new DataView(main.params.buffer), BWD90_ARGS_OFFSETS.p);
  assert.deepEqual([p.dout, p.dq, p.dk, p.dv, p.lse], [pointerOf(t.dout), pointerOf(g.dq), pointerOf(g.dk), pointerOf(g.dv), pointerOf(lse)]);

  // 16-bit inputs as UINT16 in boxes of 64 columns; dq_accum as FLOAT32 (TMA's reductions add in the map's type),
  // 32 columns x 16 rows (one warp's rows of a dQ block).
  const expected = {
    q: { address: pointerOf(t.q), rows: lq, heads: h, box: [64, 64], bytes: 2, type: 1 },
    k: { address: pointerOf(t.k), rows: lk, heads: hk, box: [64, 128], bytes: 2, type: 1 },
    v: { address: pointerOf(t.v), rows: lk, heads: hk, box: [64, 128], bytes: 2, type: 1 },
    dout: { address: pointerOf(t.dout), rows: lq, heads: h, box: [64, 64], bytes: 2, type: 1 },
    dq_accum: { address: p.dq_accum, rows: lq, heads: h, box: [32, 16], bytes: 4, type: 7 },
  };
  for (const name of BWD90_MAPS) {
    const at = BWD90_ARGS_OFFSETS[name];
    const map = decodeFakeTensorMap(main.params.subarray(at, at + CU_TENSOR_MAP_BYTES));
    const { address, rows, heads, box, bytes, type } = expected[name];
    assert.equal(map.globalAddress, address, `${name}: address`);
    assert.deepEqual(map.globalDim, [d, rows, heads, n].map(BigInt), `${name}: dims`);
    assert.deepEqual(map.globalStrides, [heads * d * bytes, d * bytes, rows * heads * d * bytes].map(BigInt), `${name}: strides`);
    assert.deepEqual(map.boxDim, [...box, 1, 1], `${name}: box`);
    assert.deepEqual(map.settings, [type, 4, 0, 3, 3, 0], `${name}: settings`);
  }
  assert.ok(p.dq_accum !== 0n && p.softmax_d !== 0n, 'dq_accum and softmax_d passed');
  assert.deepEqual([p.lq, p.lk, p.h, p.hk, p.d, p.window_left, p.window_right, p.diagonal_offset, p.out_float32], [lq, lk, h, hk, d, 40, 7, lk - lq, 0]);

  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: Math.fround(1 / Math.sqrt(d)), windowLeft: 40, windowRight: 7, diagonalOffset: lk - lq };
  await assertGradients(call, mask, 'bfloat16', ['dq', 'dk', 'dv'], true);
  call.dispose();
  assertOnlyCounterRingLeft(fake);
});

test('cc 9.0, deterministic: bwd_pre, the sm_90a bwd, bwd_dq_det; d = 64 steps over 128 query rows', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [1, 150, 90, 2, 1, 64];
  const call = backwardCall(fake, [n, lq, lk, h, hk, d], 'float16', { isCausal: true, deterministic: true });
  const { launches } = call;
  assert.deepEqual(launches.map((l) => l.symbol), ['flash_bwd_pre_f16_d64', 'flash_bwd90_f16_d64', 'flash_bwd_dq_det_f16_d64']);
  assert.deepEqual(launches.map((l) => l.grid), [[Math.ceil(lq / 16), h, n], [Math.ceil(lk / 128) * hk * n, 1, 1], [Math.ceil(lq / 64), h, n]]);
  // bwd_dq_det computes dq: the Hopper bwd skips its dQ and bwd_pre (accumOptional) leaves dq_accum alone, so no
  // kernel touches the workspace and none is allocated: every kernel is given 0, and the Hopper bwd's map over it
  // (never read then) is left zero.
  const dqAccum = (launch: number, at = 0) => decodeParams(new DataView(launches[launch].params.buffer), at).dq_accum;
  assert.deepEqual([dqAccum(0), dqAccum(1, BWD90_ARGS_OFFSETS.p), dqAccum(2)], [0n, 0n, 0n]);
  const accumMapBytes = launches[1].params.subarray(BWD90_ARGS_OFFSETS.dq_accum, BWD90_ARGS_OFFSETS.dq_accum + CU_TENSOR_MAP_BYTES);
  assert.ok(accumMapBytes.every((byte) => byte === 0), 'the unread dq_accum map is zero');
  const accumBytes = n * lq * h * d * 4;
  assert.deepEqual(call.allocations.filter((bytes) => bytes >= accumBytes), [], 'no dq_accum allocated');
  for (const name of ['q', 'dout'] as const) {
    const at = BWD90_ARGS_OFFSETS[name];
    assert.deepEqual(decodeFakeTensorMap(launches[1].params.subarray(at, at + CU_TENSOR_MAP_BYTES)).boxDim, [64, 128, 1, 1], name);
  }
  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / 8, windowLeft: -1, windowRight: 0, diagonalOffset: lk - lq };
  await assertGradients(call, mask, 'float16', ['dq', 'dk'], false);
  call.dispose();
  assertOnlyCounterRingLeft(fake);
});

test('cc 9.0, deterministic, bfloat16 d = 64: the Hopper bwd_dq_det (computing D) before the Hopper bwd, with the same BwdArgs, and no bwd_pre; gradients as the reference', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [2, 150, 90, 4, 2, 64];
  const options = { isCausal: true, deterministic: true };
  const call = backwardCall(fake, [n, lq, lk, h, hk, d], 'bfloat16', options);
  const { t, launches } = call;
  assert.deepEqual(explain(t.q, t.k, t.v, options).backward, [
    'flash_bwd_dq_det90_bf16_d64 (sm_90a)',
    'flash_bwd90_bf16_d64 (sm_90a)',
  ]);
  assert.deepEqual(launches.map((l) => l.symbol), ['flash_bwd_dq_det90_bf16_d64', 'flash_bwd90_bf16_d64']);
  assert.deepEqual(launches[0].grid, [Math.ceil(lq / 128), h, n]);
  assert.deepEqual([launches[0].threads, launches[0].sharedBytes], [384, HOPPER_BWD_SMEM]);
  assert.ok(Buffer.compare(launches[0].params, launches[1].params) === 0, 'one BwdArgs for bwd_dq_det and the Hopper bwd');
  // The pass writes D into the workspace the Hopper bwd reads it from; the Hopper bwd adds no dQ.
  const p = decodeParams(new DataView(launches[0].params.buffer), BWD90_ARGS_OFFSETS.p);
  assert.notEqual(p.softmax_d, 0n);
  assert.equal(p.dq_accum, 0n);
  const accumBytes = n * lq * h * d * 4;
  assert.deepEqual(call.allocations.filter((bytes) => bytes >= accumBytes), [], 'no dq_accum allocated');
  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / 8, windowLeft: -1, windowRight: 0, diagonalOffset: lk - lq };
  await assertGradients(call, mask, 'bfloat16', ['dq', 'dk'], false);
  // FLASH_ATTN_KERNELS=sm80 turns the Hopper backward off, and its bwd_dq_det with it.
  process.env.FLASH_ATTN_KERNELS = 'sm80';
  assert.deepEqual(explain(t.q, t.k, t.v, options).backward.at(-1), 'flash_bwd_dq_det_bf16_d64 (sm_80)');
  call.dispose();
  assertOnlyCounterRingLeft(fake);
});

test('cc 9.0, deterministic, an older build whose Hopper bwd_dq_det reads D (no computesD): bwd_pre, the Hopper bwd, then it', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [1, 70, 90, 2, 1, 128];
  const call = backwardCall(fake, [n, lq, lk, h, hk, d], 'float16', { deterministic: true, softmaxScale: 0.125 });
  assert.deepEqual(call.launches.map((l) => l.symbol), ['flash_bwd_pre_f16_d128', 'flash_bwd90_f16_d128', 'flash_bwd_dq_det90_f16_d128']);
  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: 0.125, windowLeft: -1, windowRight: -1, diagonalOffset: lk - lq };
  await assertGradients(call, mask, 'float16', ['dq'], false);
  call.dispose();
  assertOnlyCounterRingLeft(fake);
});

test('a Hopper bwd that counts its items (countsDqItems) gets n * hk counters after softmax_d, as do bwd_pre and bwd_dq; not when deterministic or without the flag', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk] = [2, 150, 300, 4, 2];
  const counted = (d: number, deterministic: boolean) => {
    const t = bwdInputs(n, lq, lk, h, hk, d, 'bfloat16');
    const { out, lse } = flashMhaFwd(t.q, t.k, t.v, { deterministic });
    const launched = fake.launches.length;
    const g = flashMhaBwd(t.dout, t.q, t.k, t.v, out, lse, { deterministic });
    const launches = fake.launches.slice(launched);
    // The sm_90a kernels (bwd90, bwd_dq_det90) take BwdArgs, the FlashParams after its maps.
    const params = launches.map((l) => decodeParams(new DataView(l.params.buffer), /90_/.test(l.symbol) ? BWD90_ARGS_OFFSETS.p : 0));
    disposeAll(t.q, t.k, t.v, t.dout, out, lse, g.dq, g.dk, g.dv);
    return { symbols: launches.map((l) => l.symbol), params };
  };
  const { symbols, params } = counted(64, false);
  assert.deepEqual(symbols, ['flash_bwd_pre_bf16_d64', 'flash_bwd90_bf16_d64', 'flash_bwd_dq_bf16_d64']);
  for (const p of params) {
    assert.equal(p.dq_done, p.softmax_d + BigInt(4 * n * h * lq), 'the words after softmax_d');
    assert.equal(p.dq_done_whole, Math.ceil(lk / 128), "a group's items: its key blocks");
  }
  for (const [d, deterministic] of [[64, true], [128, false]] as const) {
    for (const p of counted(d, deterministic).params) assert.deepEqual([p.dq_done, p.dq_done_whole], [0n, 0], `d = ${d}`);
  }
  assertOnlyCounterRingLeft(fake);
});

test('beside a Hopper bwd marked waitsForReadyRows: zeroed counters and ready flags, bwd_pre_side on a third of the multiprocessors, the Hopper bwd and bwd_dq given ready_rows; gradients as the reference', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [2, 300, 400, 8, 2, 64];
  const options = { isCausal: true };
  const call = backwardCall(fake, [n, lq, lk, h, hk, d], 'float16', options);
  const { t, out, lse, launches, before } = call;
  assert.equal(fake.memory.usedBytes, before.used + 2 * (n * lq * h * d + 2 * n * lk * hk * d), 'the workspaces are freed; only the gradients stay');
  assert.deepEqual(launches.map((l) => l.symbol), ['flash_bwd_pre_side_f16_d64', 'flash_bwd90_f16_d64', 'flash_bwd_dq_f16_d64']);
  const [side, main, last] = launches;
  // The fake's 132 multiprocessors: 44 blocks striding over n * h * ceil(lq / 128) = 48 chunks.
  assert.deepEqual([side.grid, side.threads], [[44, 1, 1], 1024]);
  assert.deepEqual(launches.map((l) => l.overlapPrevious), [true, true, true], 'the Hopper bwd overlaps bwd_pre_side');
  const memsets = fake.calls.slice(before.calls).filter((c) => c.startsWith('cuMemset'));
  assert.deepEqual(memsets, ['cuMemsetD32Async'], 'one fill zeroes the counters and the flags');
  const sideParams = decodeParams(new DataView(side.params.buffer));
  const { tile_counter: counter, ...mainParams } = decodeParams(new DataView(main.params.buffer), BWD90_ARGS_OFFSETS.p);
  const { tile_counter: sideCounter, ...sideRest } = sideParams;
  assert.deepEqual([counter !== 0n, sideCounter], [true, 0n], 'only the persistent Hopper bwd claims from a counter');
  assert.deepEqual(mainParams, sideRest, 'the same FlashParams otherwise');
  assert.deepEqual(last.params, side.params);
  assert.equal(sideParams.ready_rows, SIDE_ROWS);
  assert.equal(sideParams.dq_done, sideParams.softmax_d + BigInt(4 * n * h * lq), 'the counters (and flags) after softmax_d');
  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / 8, windowLeft: -1, windowRight: 0, diagonalOffset: lk - lq };
  const ref = await assertGradients(call, mask, 'float16', ['dq', 'dk', 'dv'], true);
  assert.deepEqual(explain(t.q, t.k, t.v, options).backward, ['flash_bwd_pre_side_f16_d64 (sm_80)', 'flash_bwd90_f16_d64 (sm_90a)', 'flash_bwd_dq_f16_d64 (sm_80)']);
  // More keys than SIDE_PRE_MAX_KEYS allows: bwd_pre first (explain launches nothing, so the long k costs no reference).
  // Rows that see no key (causal with lq > lk: the first lq - lk rows) keep the side path: this build's bwd_dq waits
  // for its rows' flags (an older one's would not: backward-path.test.ts).
  const few = randn([1, 8, h, d], { seed: 8, dtype: 'float16', device: 'cuda' });
  const fewer = randn([1, 7, hk, d], { seed: 9, dtype: 'float16', device: 'cuda' });
  assert.equal(explain(few, fewer, fewer, { isCausal: true }).backward[0], 'flash_bwd_pre_side_f16_d64 (sm_80)', 'causal lq > lk');
  assert.equal(explain(few, fewer, fewer).backward[0], 'flash_bwd_pre_side_f16_d64 (sm_80)', 'lq > lk without a mask');
  // The limit depends on the mask: causal (a right window) or none. The long k is the shorter one's keys and more.
  for (const [isCausal, limit] of [[true, SIDE_PRE_MAX_KEYS.rightWindow], [false, SIDE_PRE_MAX_KEYS.none]] as const) {
    for (const [keys, first] of [[limit, 'flash_bwd_pre_side_f16_d64'], [limit + 1, 'flash_bwd_pre_f16_d64']] as const) {
      const kv = randn([1, keys, hk, d], { seed: 7, dtype: 'float16', device: 'cuda' });
      assert.equal(explain(few, kv, kv, { isCausal }).backward[0], `${first} (sm_80)`, `lk = ${keys}, causal ${isCausal}`);
      kv.dispose();
    }
  }
  disposeAll(few, fewer);

  // Not where its vector rows do not apply (an o 2 bytes past a boundary), nor when deterministic: bwd_pre before.
  const bytes = n * lq * h * d * 2;
  const foreign = fake.memory.allocate(bytes + 2);
  fake.memory.view(foreign + 2n, bytes).set(fake.memory.view(pointerOf(out), bytes));
  const shifted = Tensor.fromDevicePointer(foreign + 2n, out.shape, 'float16', 'cuda');
  for (const [name, o, deterministic] of [['an unaligned o', shifted, false], ['deterministic', out, true]] as const) {
    const before = fake.launches.length;
    const h2 = flashMhaBwd(t.dout, t.q, t.k, t.v, o, lse, { ...options, deterministic });
    const symbols = fake.launches.slice(before).map((l) => l.symbol);
    assert.equal(symbols[0], 'flash_bwd_pre_f16_d64', name);
    assert.ok(fake.launches.slice(before).every((l) => decodeParams(new DataView(l.params.buffer), /90_/.test(l.symbol) ? BWD90_ARGS_OFFSETS.p : 0).ready_rows === 0), `${name}: no ready_rows`);
    assert.deepEqual(await h2.dk.data(), encodeArray(ref.dk, 'float16'), name);
    disposeAll(h2.dq, h2.dk, h2.dv);
  }
  shifted.dispose();
  fake.memory.free(foreign);
  call.dispose();
  assertOnlyCounterRingLeft(fake);
});

test('a bwd_pre_side marked pacedBlocks runs on that many blocks beside the Hopper bwd on the rest, given its counter, grid and keys per item; gradients as the reference', async () => {
  const fake = newFake();
  // 64 groups of 2 key blocks: 128 items, more than the 132 - 12 multiprocessors left to the main kernel.
  const [n, lq, lk, h, hk, d] = [1, 129, 129, 64, 64, 128];
  // A scale float32 holds exactly, as the reference's float64 does.
  const call = backwardCall(fake, [n, lq, lk, h, hk, d], 'float16', { isCausal: true, softmaxScale: 1 / 8 });
  assert.deepEqual(call.launches.map((l) => l.symbol), ['flash_bwd_pre_side_f16_d128', 'flash_bwd90_f16_d128', 'flash_bwd_dq_f16_d128']);
  const [side, main, last] = call.launches;
  assert.deepEqual([side.grid, main.grid], [[PACED_BLOCKS, 1, 1], [132 - PACED_BLOCKS, 1, 1]]);
  const sideParams = decodeParams(new DataView(side.params.buffer));
  const mainParams = decodeParams(new DataView(main.params.buffer), BWD90_ARGS_OFFSETS.p);
  assert.ok(mainParams.tile_counter !== 0n);
  assert.deepEqual([sideParams.tile_counter, sideParams.pace_grid, sideParams.pace_key_rows], [mainParams.tile_counter, 132 - PACED_BLOCKS, 128]);
  assert.equal(sideParams.ready_rows, PACED_SIDE_ROWS);
  const lastParams = decodeParams(new DataView(last.params.buffer));
  assert.deepEqual([mainParams.pace_grid, lastParams.pace_grid], [0, 0], 'only the side paces');
  const { tile_counter: _a, pace_grid: _b, pace_key_rows: _c, ...sideRest } = sideParams;
  const { tile_counter: _d, pace_grid: _e, pace_key_rows: _f, ...lastRest } = lastParams;
  assert.deepEqual(sideRest, lastRest, 'the same FlashParams otherwise');
  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / 8, windowLeft: -1, windowRight: 0, diagonalOffset: 0 };
  await assertGradients(call, mask, 'float16', ['dq', 'dk', 'dv'], true);
  call.dispose();
  // Without a right window (backward.ts PACE_MAX_KEYS): unpaced, on a third of the multiprocessors, beside a main
  // kernel on all of them.
  const plain = backwardCall(fake, [n, lq, lk, h, hk, d], 'float16', { softmaxScale: 1 / 8 });
  const [plainSide, plainMain] = plain.launches;
  assert.deepEqual([plainSide.symbol, plainSide.grid, plainMain.grid], ['flash_bwd_pre_side_f16_d128', [44, 1, 1], [128, 1, 1]]);
  assert.equal(decodeParams(new DataView(plainSide.params.buffer)).pace_grid, 0);
  plain.dispose();
  // Fewer items (32 groups of 2 key blocks) than the multiprocessors left: a block per item, and that grid paced for.
  const few = backwardCall(fake, [n, lq, lk, 32, 32, d], 'float16', { isCausal: true, softmaxScale: 1 / 8 });
  const [fewSide, fewMain] = few.launches;
  assert.deepEqual([fewSide.grid, fewMain.grid], [[PACED_BLOCKS, 1, 1], [64, 1, 1]]);
  assert.equal(decodeParams(new DataView(fewSide.params.buffer)).pace_grid, 64);
  few.dispose();
  assertOnlyCounterRingLeft(fake);
});

test('the sm_80 backward where the Hopper one does not apply: d = 59, cc 8.0, 180 KB of shared memory, FLASH_ATTN_KERNELS=sm80, an unaligned dout', () => {
  const cases: [string, Parameters<typeof newFake>[0], number, string][] = [
    ['d = 59', {}, 59, 'd64'],
    ['cc 8.0', { computeCapability: [8, 0] }, 64, 'd64'],
    ['180 KB of shared memory', { sharedMemoryPerBlockOptin: 180 * 1024 }, 128, 'd128'],
    ['FLASH_ATTN_KERNELS=sm80', {}, 128, 'd128'],
    ['an unaligned dout', {}, 64, 'd64'],
  ];
  for (const [name, device, d, suffix] of cases) {
    withEnv({ FLASH_ATTN_KERNELS: name.startsWith('FLASH_ATTN_KERNELS') ? 'sm80' : undefined }, () => {
      const fake = newFake(device);
      const [n, lq, lk, h, hk] = [1, 33, 40, 2, 1];
      const t = bwdInputs(n, lq, lk, h, hk, d, 'float16');
      let dout = t.dout;
      let foreign: bigint | undefined;
      if (name === 'an unaligned dout') {
        // Memory owned by other code, 8 bytes past a 256-byte boundary.
        const bytes = n * lq * h * d * 2;
        foreign = fake.memory.allocate(bytes + 8);
        fake.memory.view(foreign + 8n, bytes).set(fake.memory.view(pointerOf(t.dout), bytes));
        dout = Tensor.fromDevicePointer(foreign + 8n, t.dout.shape, 'float16', 'cuda');
      }
      const { out, lse } = flashMhaFwd(t.q, t.k, t.v);
      const [launched, encoded] = [fake.launches.length, fake.tensorMapTargets.length];
      const g = flashMhaBwd(dout, t.q, t.k, t.v, out, lse);
      const launches = fake.launches.slice(launched);
      assert.deepEqual(launches.map((l) => l.symbol), [`flash_bwd_pre_f16_${suffix}`, `flash_bwd_f16_${suffix}`, `flash_bwd_dq_f16_${suffix}`], name);
      assert.ok(launches.every((l) => l.params.length === FLASH_PARAMS_SIZE), `${name}: plain FlashParams`);
      assert.equal(fake.tensorMapTargets.length, encoded, `${name}: no map encoded for the backward`);
      disposeAll(t.q, t.k, t.v, t.dout, dout, out, lse, g.dq, g.dk, g.dv);
      if (foreign !== undefined) fake.memory.free(foreign);
    });
  }
});

test("ring attention's float32 gradients: the Hopper backward gets out_float32 and writes dk, dv in float32", async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [1, 20, 36, 2, 2, 128];
  const t = bwdInputs(n, lq, lk, h, hk, d, 'bfloat16');
  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: 0.125, windowLeft: -1, windowRight: -1, diagonalOffset: 0 };
  const p = { ...mask, dtype: 'bfloat16', device: 'cuda:0', outDtype: 'float32', deterministic: false } as const;
  const f = cudaForward({ ...p, outDtype: 'bfloat16' }, t.q.storage(), t.k.storage(), t.v.storage());
  const launched = fake.launches.length;
  const g = cudaBackward(p, t.dout.storage(), t.q.storage(), t.k.storage(), t.v.storage(), f.out, f.lse);
  const main = fake.launches[launched + 1];
  assert.equal(main.symbol, 'flash_bwd90_bf16_d128');
  assert.equal(decodeParams(new DataView(main.params.buffer), BWD90_ARGS_OFFSETS.p).out_float32, 1);
  const ref = await referenceGradients(mask, t);
  assert.deepEqual(await g.dk.read(), Float32Array.from(ref.dk));
  assert.deepEqual(await g.dv.read(), Float32Array.from(ref.dv));
  for (const s of [f.out, f.lse, g.dq, g.dk, g.dv]) s.dispose();
  disposeAll(t.q, t.k, t.v, t.dout);
  assertOnlyCounterRingLeft(fake);
});

test('a failing encode in the backward is a CudaError: nothing launched, the gradients and workspaces freed', () => {
  const fake = newFake();
  const t = bwdInputs(1, 16, 16, 1, 1, 64, 'bfloat16');
  const { out, lse } = flashMhaFwd(t.q, t.k, t.v);
  const [launched, used] = [fake.launches.length, fake.memory.usedBytes];
  fake.failures.set('cuTensorMapEncodeTiled', 1);
  assert.throws(
    () => flashMhaBwd(t.dout, t.q, t.k, t.v, out, lse),
    (e: unknown) => e instanceof CudaError && e.call === 'cuTensorMapEncodeTiled',
  );
  fake.failures.clear();
  assert.equal(fake.launches.length, launched, 'not even bwd_pre');
  assert.equal(fake.memory.usedBytes, used);
  disposeAll(t.q, t.k, t.v, t.dout, out, lse);
});
