// The CUDA backend's host logic over a fake driver (no GPU needed): device discovery, memory and its
// release, kernel choice and launch shapes, the params bytes the kernels receive, short cuts for empty
// problems, error naming, and Tensor.fromDevicePointer.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cudaRingRuntime } from '../../src/backend/cuda/ring.js';
import { cudaDevice, useDriverForTesting } from '../../src/backend/cuda/runtime.js';
import { deviceName, synchronize, timeOnDevice } from '../../src/backend/cuda/timing.js';
import { forgetManifestForTesting } from '../../src/backend/cuda/table.js';
import { encodeArray } from '../../src/dtype.js';
import {
  BackendUnavailableError,
  CudaError,
  Tensor,
  devices,
  flashMhaBwd,
  flashMhaFwd,
  randn,
  tensor,
} from '../../src/index.js';
import { defaultDevice } from '../../src/cli/args.js';
import { deviceListing } from '../../src/devices.js';
import { setEnv, withEnv } from '../support/env.js';
import { type Mask, referenceBackward, referenceForward } from '../support/reference.js';
import { FakeDriver } from './cuda-fake-driver.js';
import { assertReferenceForward, decodeParams } from './cuda-fake-kernels.js';
import { useFakeBuild } from './cuda-fake-setup.js';

// --- a fake kernel build: a manifest and empty fatbins, kernels emulated with the float64 reference ---

const { build, newFake } = useFakeBuild();
const kernelDir = build.directory;

// --- tests ---

test('devices() lists the fake GPUs after the CPUs; deviceName reports the driver name', () => {
  newFake({ devices: 2 });
  const names = devices();
  assert.deepEqual(names.slice(-2), ['cuda:0', 'cuda:1']);
  assert.equal(deviceName('cuda:1'), 'Fake GPU 1');
  assert.equal(deviceName('cuda'), 'Fake GPU 0');
});

test('each GPU opens its memory pool to the others; a pair the driver refuses only warns, both GPUs keep working', async () => {
  const fake = newFake({ devices: 2 });
  cudaDevice('cuda:0');
  cudaDevice('cuda:1');
  assert.equal(fake.calls.filter((c) => c === 'cuMemPoolSetAccess').length, 2, 'one grant each way');

  const refusing = newFake({ devices: 2 });
  refusing.failures.set('cuMemPoolSetAccess', 801);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    cudaDevice('cuda:0');
    cudaDevice('cuda:1');
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  assert.equal(warnings.filter((m) => m.includes("memory pool")).length, 2, warnings.join('; '));
  const t = randn([2, 3], { seed: 1, dtype: 'bfloat16', device: 'cuda:1' });
  assert.deepEqual(await t.data(), await randn([2, 3], { seed: 1, dtype: 'bfloat16' }).data());
  t.dispose();
});

test('upload, read back and move between devices keep the bits', async () => {
  newFake();
  for (const dtype of ['float16', 'bfloat16'] as const) {
    const host = randn([3, 5], { seed: 7, dtype });
    const onGpu = await host.to('cuda');
    assert.equal(onGpu.device, 'cuda:0');
    assert.deepEqual(await onGpu.data(), await host.data());
    const back = await onGpu.to('cpu');
    assert.deepEqual(await back.data(), await host.data());
    onGpu.dispose();
  }
});

test('float32 tensors live on cuda (an lse built by hand, as to() makes one), but attention refuses them as inputs', async () => {
  newFake();
  const made = tensor([1, 2], [2], { device: 'cuda', dtype: 'float32' });
  assert.deepEqual([made.dtype, made.device, [...(await made.toFloat32Array())]], ['float32', 'cuda:0', [1, 2]]);
  const q = randn([1, 4, 1, 8], { dtype: 'float32', device: 'cuda' });
  assert.throws(() => flashMhaFwd(q, q, q), /^DtypeError: q: the cuda backend does not support dtype 'float32'/);
  for (const t of [made, q]) t.dispose();
});

test('forward: the smallest compiled head dim >= d, grid (ceil(lq/tileRows), h, n), params as the kernels read them', async () => {
  const fake = newFake();
  const [n, lq, lk, h, hk, d] = [2, 130, 70, 4, 2, 40];
  const q = randn([n, lq, h, d], { seed: 1, dtype: 'bfloat16', device: 'cuda' });
  const k = randn([n, lk, hk, d], { seed: 2, dtype: 'bfloat16', device: 'cuda' });
  const v = randn([n, lk, hk, d], { seed: 3, dtype: 'bfloat16', device: 'cuda' });
  const { out, lse } = flashMhaFwd(q, k, v, { isCausal: true, windowSize: [9, -1], softmaxScale: 0.3 });
  assert.equal(fake.launches.length, 1);
  const launch = fake.launches[0];
  assert.equal(launch.symbol, 'flash_fwd_bfloat16_d64_s40960');
  assert.deepEqual(launch.grid, [Math.ceil(lq / 128), h, n]);
  assert.equal(launch.threads, 128);
  assert.equal(launch.sharedBytes, 40 * 1024);
  const p = decodeParams(new DataView(launch.params.buffer));
  assert.deepEqual([p.n, p.lq, p.lk, p.h, p.hk, p.d], [n, lq, lk, h, hk, d]);
  assert.deepEqual([p.window_left, p.window_right, p.diagonal_offset, p.out_float32], [9, 0, lk - lq, 0]);
  assert.equal(p.softmax_scale, Math.fround(0.3));
  assert.equal(p.softmax_scale_log2, Math.fround(0.3 * Math.LOG2E));
  assert.deepEqual([p.dout, p.dq, p.dk, p.dv, p.dq_accum, p.softmax_d], [0n, 0n, 0n, 0n, 0n, 0n]);

  // The kernels receive the scale as float32.
  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: Math.fround(0.3), windowLeft: 9, windowRight: 0, diagonalOffset: lk - lq };
  await assertReferenceForward(mask, { q, k, v }, out, lse);
  for (const t of [q, k, v, out, lse]) t.dispose();
  assert.equal(fake.memory.usedBytes, 0, 'all device memory back in the pool');
});

test('n > 65535 on the sm_80 forward: launches of at most 65535 entries (gridDim.z), each on its entries; o and lse as the reference', async () => {
  const fake = newFake();
  const [n, lq, lk, h, d] = [65535 + 2, 2, 3, 1, 8];
  const q = randn([n, lq, h, d], { seed: 1, dtype: 'float16', device: 'cuda' });
  const k = randn([n, lk, h, d], { seed: 2, dtype: 'float16', device: 'cuda' });
  const v = randn([n, lk, h, d], { seed: 3, dtype: 'float16', device: 'cuda' });
  const { out, lse } = flashMhaFwd(q, k, v);
  assert.deepEqual(fake.launches.map((l) => l.grid), [[1, 1, 65535], [1, 1, 2]]);
  const mask: Mask = { n, lq, lk, h, hk: h, d, softmaxScale: Math.fround(1 / Math.sqrt(d)), windowLeft: -1, windowRight: -1, diagonalOffset: lk - lq };
  await assertReferenceForward(mask, { q, k, v }, out, lse);
  for (const t of [q, k, v, out, lse]) t.dispose();
  assert.equal(fake.memory.usedBytes, 0, 'the views free nothing, the outputs everything');
});

test('a window wider than the sequences reaches the kernels as unbounded (-1): any legal width runs, with the same mask', async () => {
  const fake = newFake();
  const [lq, lk, h, d] = [33, 20, 2, 16];
  const q = randn([1, lq, h, d], { seed: 1, dtype: 'float16', device: 'cuda' });
  const k = randn([1, lk, h, d], { seed: 2, dtype: 'float16', device: 'cuda' });
  const v = randn([1, lk, h, d], { seed: 3, dtype: 'float16', device: 'cuda' });
  const [qf, kf, vf] = await Promise.all([q, k, v].map((t) => t.toFloat32Array()));
  for (const [windowSize, sent] of [
    [[2 ** 31, 0], [-1, 0]],
    [[Number.MAX_SAFE_INTEGER, -1], [-1, -1]],
    [[3, 2 ** 40], [3, -1]],
    [[lq - 1 + lk - lq, lk - 1 - (lk - lq)], [-1, -1]],
    [[lq - 2 + lk - lq, lk - 2 - (lk - lq)], [lq - 2 + lk - lq, lk - 2 - (lk - lq)]],
  ] as [[number, number], [number, number]][]) {
    fake.launches.length = 0;
    const { out, lse } = flashMhaFwd(q, k, v, { windowSize });
    const p = decodeParams(new DataView(fake.launches[0].params.buffer));
    assert.deepEqual([p.window_left, p.window_right], sent, `windowSize ${windowSize}`);
    const mask: Mask = { n: 1, lq, lk, h, hk: h, d, softmaxScale: Math.fround(1 / Math.sqrt(d)), windowLeft: windowSize[0], windowRight: windowSize[1], diagonalOffset: lk - lq };
    assert.deepEqual(await out.data(), encodeArray(referenceForward(mask, qf, kf, vf).o, 'float16'), `windowSize ${windowSize}`);
    out.dispose();
    lse.dispose();
  }
  for (const t of [q, k, v]) t.dispose();
});

test('the shared-memory limit of the device picks the tiling that fits; >48 KB opts in', () => {
  for (const [limit, expected] of [
    [227 * 1024, 'flash_fwd_float16_d128_s163840'],
    [99 * 1024, 'flash_fwd_float16_d128_s98304'],
  ] as const) {
    const fake = newFake({ sharedMemoryPerBlockOptin: limit });
    const q = randn([1, 8, 1, 100], { dtype: 'float16', device: 'cuda' });
    const { out, lse } = flashMhaFwd(q, q, q);
    assert.equal(fake.launches[0].symbol, expected);
    assert.equal(fake.functionAttributes.get(`${expected}:8`), fake.launches[0].sharedBytes);
    for (const t of [q, out, lse]) t.dispose();
  }
  const fake = newFake({ sharedMemoryPerBlockOptin: 48 * 1024 });
  const q = randn([1, 8, 1, 100], { dtype: 'float16', device: 'cuda' });
  assert.throws(() => flashMhaFwd(q, q, q), (e: unknown) => e instanceof BackendUnavailableError && /need 98304 bytes of shared memory per block, and this device allows 49152/.test(e.message));
  q.dispose();
  assert.equal(fake.memory.usedBytes, 0, 'outputs allocated before the throw were freed');
});

test('lk = 0: o = 0 and lse = -Infinity without a launch; lq = 0: empty outputs', async () => {
  const fake = newFake();
  const q = randn([2, 5, 2, 16], { dtype: 'float16', device: 'cuda' });
  const empty = randn([2, 0, 1, 16], { dtype: 'float16', device: 'cuda' });
  const { out, lse } = flashMhaFwd(q, empty, empty);
  assert.ok((await out.toFloat32Array()).every((x) => Object.is(x, 0)));
  assert.ok((await lse.toFloat32Array()).every((x) => x === -Infinity));
  const g = flashMhaBwd(q, q, empty, empty, out, lse);
  assert.ok((await g.dq.toFloat32Array()).every((x) => Object.is(x, 0)));
  assert.equal(g.dk.size, 0);
  const noQueries = randn([2, 0, 2, 16], { dtype: 'float16', device: 'cuda' });
  const kv = randn([2, 7, 1, 16], { dtype: 'float16', device: 'cuda' });
  const r = flashMhaFwd(noQueries, kv, kv);
  assert.deepEqual([r.out.shape, r.lse.shape], [[2, 0, 2, 16], [2, 2, 0]]);
  const g0 = flashMhaBwd(noQueries, noQueries, kv, kv, r.out, r.lse);
  assert.ok((await g0.dk.toFloat32Array()).every((x) => Object.is(x, 0)));
  assert.ok((await g0.dv.toFloat32Array()).every((x) => Object.is(x, 0)));
  assert.equal(fake.launches.length, 0);
  for (const t of [q, empty, out, lse, g.dq, g.dk, g.dv, noQueries, kv, r.out, r.lse, g0.dq, g0.dk, g0.dv]) t.dispose();
  assert.equal(fake.memory.usedBytes, 0);
});

/** A causal GQA backward on the fake, its gradients checked against the reference: the launches it made. */
async function fakeBackward(fake: FakeDriver) {
  const [n, lq, lk, h, hk, d] = [1, 33, 65, 4, 1, 64];
  const q = randn([n, lq, h, d], { seed: 4, dtype: 'float16', device: 'cuda' });
  const k = randn([n, lk, hk, d], { seed: 5, dtype: 'float16', device: 'cuda' });
  const v = randn([n, lk, hk, d], { seed: 6, dtype: 'float16', device: 'cuda' });
  const dout = randn([n, lq, h, d], { seed: 8, dtype: 'float16', device: 'cuda' });
  const { out, lse } = flashMhaFwd(q, k, v, { isCausal: true });
  const usedBefore = fake.memory.usedBytes;
  const launchesBefore = fake.launches.length;
  const g = flashMhaBwd(dout, q, k, v, out, lse, { isCausal: true });
  const gradientBytes = 2 * (n * lq * h * d + 2 * n * lk * hk * d);
  assert.equal(fake.memory.usedBytes, usedBefore + gradientBytes, 'only the gradients stay allocated');
  const launches = fake.launches.slice(launchesBefore);
  assert.deepEqual(launches.map((l) => l.symbol), ['flash_bwd_pre_float16_d64_s40960', 'flash_bwd_float16_d64_s40960', 'flash_bwd_dq_float16_d64_s40960']);
  assert.deepEqual(launches.map((l) => l.grid), [[Math.ceil(lq / 16), h, n], [Math.ceil(lk / 64), hk, n], [Math.ceil(lq / 16), h, n]]);
  const mask: Mask = { n, lq, lk, h, hk, d, softmaxScale: 1 / 8, windowLeft: -1, windowRight: 0, diagonalOffset: lk - lq };
  const ref = referenceBackward(mask, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array(), await dout.toFloat32Array());
  assert.deepEqual(await g.dq.data(), encodeArray(Float32Array.from(ref.dq), 'float16'));
  assert.deepEqual(await g.dk.data(), encodeArray(ref.dk, 'float16'));
  for (const t of [q, k, v, dout, out, lse, g.dq, g.dk, g.dv]) t.dispose();
  assert.equal(fake.memory.usedBytes, 0);
  return { launches: launches.map((l) => ({ params: l.params, decoded: decodeParams(new DataView(l.params.buffer)) })) };
}

test('backward: bwd_pre, bwd, bwd_dq in order with one params struct; workspaces freed', async () => {
  // New allocations hold NaNs, so dq is right only if bwd_pre cleared dq_accum before bwd added into it.
  const { launches } = await fakeBackward(newFake({ allocationFill: 0xff }));
  assert.ok(launches.every((l) => Buffer.compare(l.params, launches[0].params) === 0));
  const p = launches[0].decoded;
  assert.ok([p.q, p.k, p.v, p.o, p.lse, p.dout, p.dq, p.dk, p.dv, p.dq_accum, p.softmax_d].every((a) => a !== 0n));
});

test('a failing driver call throws CudaError with the driver name and message, and leaks nothing', (t) => {
  // A 9.0 device launches through cuLaunchKernelEx (programmatic dependent launch); without it, cuLaunchKernel.
  t.after(setEnv({ FLASH_ATTN_PDL: undefined }));
  for (const launchKernelEx of [false, true]) {
    const call = launchKernelEx ? 'cuLaunchKernelEx' : 'cuLaunchKernel';
    const fake = newFake({ launchKernelEx });
    const q = randn([1, 4, 1, 8], { dtype: 'float16', device: 'cuda' });
    fake.failures.set(call, 700);
    assert.throws(
      () => flashMhaFwd(q, q, q),
      (e: unknown) =>
        e instanceof CudaError &&
        e.code === 'ERR_CUDA' &&
        e.driverName === 'CUDA_ERROR_ILLEGAL_ADDRESS' &&
        e.call === call &&
        e.message === `${call} failed: CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered)`,
    );
    fake.failures.clear();
    q.dispose();
    assert.equal(fake.memory.usedBytes, 0, `${call}: nothing left allocated`);
  }
  const fake = newFake();
  const q = randn([1, 4, 1, 8], { dtype: 'float16', device: 'cuda' });
  fake.failures.set('cuMemAllocAsync', 2);
  assert.throws(() => randn([4], { dtype: 'float16', device: 'cuda' }), /cuMemAllocAsync failed: CUDA_ERROR_OUT_OF_MEMORY \(out of memory\)/);
  fake.failures.set('cuMemAllocAsync', 12345);
  assert.throws(() => randn([4], { dtype: 'float16', device: 'cuda' }), /CUresult 12345/);
  fake.failures.clear();
  q.dispose();
  assert.equal(fake.memory.usedBytes, 0);
});

test('no driver: asking for cuda throws BackendUnavailableError naming libcuda and the cpu backend', () => {
  withEnv({ FLASH_ATTN_LIBCUDA: join(kernelDir, 'no-such-libcuda.so.1') }, () => {
    useDriverForTesting(undefined);
    assert.throws(
      () => randn([2], { dtype: 'float16', device: 'cuda' }),
      (e: unknown) => e instanceof BackendUnavailableError && /libcuda/.test(e.message) && /'cpu'/.test(e.message),
    );
    assert.ok(!devices().some((name) => name.startsWith('cuda')));
    // `flash-attn devices` prints this on stderr: a wrong driver path is named, not silent.
    const left = deviceListing().unusable;
    assert.deepEqual(left.map((d) => d.name), ['cuda']);
    assert.match(left[0].reason, /no-such-libcuda\.so\.1/);
  });
});

test('cuInit failure (no device) is BackendUnavailableError with the driver name', () => {
  const fake = new FakeDriver();
  fake.failures.set('cuInit', 100);
  useDriverForTesting(fake);
  assert.throws(() => randn([2], { dtype: 'float16', device: 'cuda' }), /cuInit failed with CUDA_ERROR_NO_DEVICE/);
});

test('a GPU older than compute capability 8.0 is refused when first used, naming what the kernels need', () => {
  newFake({ computeCapability: [7, 0] });
  assert.throws(
    () => randn([2], { dtype: 'float16', device: 'cuda' }),
    (e: unknown) => e instanceof BackendUnavailableError && /^cuda:0 \(Fake GPU 0\) is compute capability 7\.0; flash-attn's kernels need 8\.0 or newer/.test(e.message),
  );
});

test('devices() leaves out a GPU older than the kernels, without setting it up; the CLI defaults to the next GPU', () => {
  const fake = newFake({ devices: 3, computeCapabilities: { 0: [7, 5], 2: [8, 6] } });
  assert.deepEqual(devices().filter((name) => name.startsWith('cuda')), ['cuda:1', 'cuda:2']);
  const left = deviceListing().unusable;
  assert.deepEqual(left.map((d) => d.name), ['cuda:0']);
  assert.match(left[0].reason, /^cuda:0 \(Fake GPU 0\) is compute capability 7\.5; flash-attn's kernels need 8\.0 or newer/);
  assert.equal(fake.contextsRetained, 0, 'listing the devices retains no context');
  assert.equal(defaultDevice(), 'cuda:1');
  // Named on purpose, the old GPU is still refused with the same reason.
  assert.throws(() => randn([2], { dtype: 'float16', device: 'cuda:0' }), (e: unknown) => e instanceof BackendUnavailableError && e.message === left[0].reason);
  assert.equal(fake.contextsRetained, 0, 'refused before retaining a context');
  const x = randn([2], { dtype: 'float16', device: 'cuda:2' });
  x.dispose();
  assert.equal(fake.contextsRetained, 1);
});

test('devices() leaves out a GPU the driver cannot describe, and names the failing call', () => {
  const fake = newFake({ devices: 2 });
  fake.failures.set('cuDeviceGetAttribute', 999);
  assert.ok(!devices().some((name) => name.startsWith('cuda')));
  const left = deviceListing().unusable;
  assert.deepEqual(left.map((d) => d.name), ['cuda:0', 'cuda:1']);
  assert.ok(left.every((d) => /cuDeviceGetAttribute/.test(d.reason)), left.map((d) => d.reason).join('; '));
  assert.equal(defaultDevice(), 'cpu:0');
});

test('a missing manifest says how to build the kernels', () => {
  newFake();
  withEnv({ FLASH_ATTN_KERNEL_DIR: join(kernelDir, 'nowhere') }, () => {
    forgetManifestForTesting();
    const q = randn([1, 4, 1, 8], { dtype: 'float16', device: 'cuda' });
    assert.throws(() => flashMhaFwd(q, q, q), /manifest\.json is missing\); build them with `node scripts\/build-kernels\.mjs`/);
    q.dispose();
  });
});

test('fromDevicePointer wraps foreign memory: readable, usable, never freed by dispose', async () => {
  const fake = newFake();
  const foreign = fake.memory.allocate(6 * 2);
  const bits = encodeArray([1, 2, 3, 4, 5, 6], 'float16');
  fake.memory.view(foreign, 12).set(new Uint8Array(bits.buffer));
  const t = Tensor.fromDevicePointer(foreign, [2, 3], 'float16', 'cuda');
  assert.equal(t.device, 'cuda:0');
  assert.deepEqual(Array.from(await t.toFloat32Array()), [1, 2, 3, 4, 5, 6]);
  t.dispose();
  assert.equal(fake.memory.liveAllocations, 1);
  assert.deepEqual(fake.freedForeign, []);
  assert.throws(() => Tensor.fromDevicePointer(0n, [2], 'float16', 'cuda'), /pointer: expected a non-null 64-bit device address/);
  assert.throws(() => Tensor.fromDevicePointer(2n ** 64n, [2], 'float16', 'cuda'), /pointer: expected a non-null 64-bit device address/);
  assert.throws(() => Tensor.fromDevicePointer(foreign, [2 ** 40, 2 ** 40], 'float16', 'cuda'), /^SizeLimitError: shape: \[1099511627776, 1099511627776\] holds/);
  assert.throws(() => Tensor.fromDevicePointer(foreign, [2], 'float16', 'cpu'), /fromDevicePointer needs a 'cuda' device/);
  assert.throws(() => Tensor.fromDevicePointer(foreign + 1n, [2], 'float16', 'cuda'), /^ShapeError: pointer: expected an address aligned to float16's 2 bytes, got 0x[0-9a-f]+ \(1 past\)$/);
  assert.throws(() => Tensor.fromDevicePointer(foreign + 2n, [1], 'float32', 'cuda'), /aligned to float32's 4 bytes/);
  fake.memory.free(foreign);
});

test('timeOnDevice returns one time per repeat from event pairs; synchronize waits on the stream', async () => {
  const fake = newFake();
  let runs = 0;
  const times = await timeOnDevice('cuda:0', () => runs++, 5);
  assert.equal(runs, 5);
  assert.deepEqual(times, [0.5, 0.5, 0.5, 0.5, 0.5]);
  assert.equal(fake.calls.filter((c) => c === 'cuEventCreate').length, fake.calls.filter((c) => c === 'cuEventDestroy').length);
  synchronize('cuda:0');
  assert.equal(fake.calls.at(-1), 'cuStreamSynchronize');
});

test('runtime dispose releases every primary context it retained', () => {
  const fake = newFake({ devices: 2 });
  cudaDevice('cuda:0');
  cudaDevice('cuda:1');
  useDriverForTesting(undefined);
  assert.equal(fake.contextsRetained, 2);
  assert.equal(fake.contextsReleased, 2);
});

test('ring runtime: transfers wait for the compute stream, compute waits for transfers, via events', () => {
  const fake = newFake();
  const t = randn([4], { dtype: 'float16', device: 'cuda' });
  const storage = t.storage();
  assert.equal(cudaRingRuntime.pointerOf(storage), (storage as unknown as { pointer: bigint }).pointer);
  const copy = cudaRingRuntime.allocateLike(storage, 'cuda:0');
  assert.deepEqual([copy.dtype, copy.length, copy.device], ['float16', 4, 'cuda:0']);
  fake.calls.length = 0;
  const stream = cudaRingRuntime.transferStream('cuda:0');
  assert.notEqual(stream, cudaDevice('cuda:0').stream);
  assert.deepEqual(fake.calls.filter((c) => c !== 'cuStreamCreate'), ['cuEventCreate', 'cuEventRecord', 'cuStreamWaitEvent', 'cuEventDestroy']);
  fake.calls.length = 0;
  cudaRingRuntime.waitForTransfers('cuda:0');
  assert.deepEqual(fake.calls, ['cuEventCreate', 'cuEventRecord', 'cuStreamWaitEvent', 'cuEventDestroy']);
  copy.dispose();
  t.dispose();
});
