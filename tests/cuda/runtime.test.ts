// The runtime on a real GPU: memory returns to the pool, driver errors carry the driver's name, foreign
// device memory wraps without a copy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CUDA_ERROR_NOT_READY } from '../../src/backend/cuda/driver.js';
import { CudaError, Tensor, flashMha, flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { bitsEqual, disposeAll, gpu, skipReason } from './gpu.js';

test('device memory in use returns to its starting level after dispose', { skip: skipReason }, async () => {
  const device = gpu();
  // The first persistent (Hopper) launch allocates the device's ring of tile counters, which stays until the device is
  // disposed: one call before the starting level is read.
  const first = randn([1, 8, 1, 64], { dtype: 'bfloat16', device: 'cuda' });
  disposeAll(first, ...Object.values(flashMhaFwd(first, first, first)));
  await device.idle();
  const start = device.memoryInUse();
  for (let round = 0; round < 5; round++) {
    const q = randn([2, 300, 4, 64], { seed: round, dtype: 'bfloat16', device: 'cuda' });
    const k = randn([2, 200, 2, 64], { seed: round + 1, dtype: 'bfloat16', device: 'cuda' });
    const { out, lse } = flashMhaFwd(q, k, k, { isCausal: true });
    const g = flashMhaBwd(out, q, k, k, out, lse, { isCausal: true });
    await g.dq.data();
    assert.ok(device.memoryInUse() > start);
    disposeAll(q, k, out, lse, g.dq, g.dk, g.dv);
  }
  // A call rejected at the front door allocates nothing.
  const q = randn([1, 8, 2, 64], { dtype: 'float16', device: 'cuda' });
  const bad = randn([1, 8, 2, 32], { dtype: 'float16', device: 'cuda' });
  assert.throws(() => flashMha(q, bad, bad), /expected d = 64/);
  disposeAll(q, bad);
  await device.idle();
  assert.equal(device.memoryInUse(), start);
});

test('a failing driver call throws CudaError with the driver name and message', { skip: skipReason }, () => {
  assert.throws(
    () => gpu().allocate(2 ** 50),
    (e: unknown) =>
      e instanceof CudaError &&
      e.code === 'ERR_CUDA' &&
      e.driverName === 'CUDA_ERROR_OUT_OF_MEMORY' &&
      e.message.startsWith('cuMemAllocAsync failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)'),
  );
});

test('Tensor.fromDevicePointer wraps memory owned elsewhere: same results, never freed by dispose', { skip: skipReason }, async () => {
  const device = gpu();
  const shape = [1, 65, 2, 64];
  const q = randn(shape, { seed: 3, dtype: 'float16', device: 'cuda' });
  const bits = (await q.data()) as Uint16Array;
  const foreign = device.allocate(bits.byteLength);
  device.copyToDevice(foreign, bits);
  const wrapped = Tensor.fromDevicePointer(foreign, shape, 'float16', 'cuda');
  const fromWrapped = flashMha(wrapped, wrapped, wrapped, { isCausal: true });
  const fromOwned = flashMha(q, q, q, { isCausal: true });
  assert.ok(bitsEqual(await fromWrapped.data(), await fromOwned.data()));
  await device.idle();
  const inUse = device.memoryInUse();
  wrapped.dispose();
  await device.idle();
  assert.equal(device.memoryInUse(), inUse, 'dispose of a wrapped tensor frees nothing');
  assert.ok(bitsEqual(await Tensor.fromDevicePointer(foreign, shape, 'float16', 'cuda').data(), bits), 'the memory is still there');
  device.free(foreign);
  disposeAll(q, fromWrapped, fromOwned);
});

test('flashMha returns while the GPU is still working; reading waits', { skip: skipReason }, async () => {
  const device = gpu();
  const q = randn([2, 8192, 16, 128], { seed: 9, dtype: 'bfloat16', device: 'cuda' });
  await device.idle();
  const out = flashMha(q, q, q);
  // An event recorded right after the call is still pending: the call did not wait for its kernel.
  const event = device.createEvent();
  device.recordEvent(event);
  const pending = device.runtime.driver.cuEventQuery(event) === CUDA_ERROR_NOT_READY;
  await device.whenComplete(event);
  device.destroyEvent(event);
  assert.ok(pending, 'the kernel had already finished when flashMha returned');
  assert.ok((await out.toFloat32Array()).every(Number.isFinite));
  disposeAll(q, out);
});
