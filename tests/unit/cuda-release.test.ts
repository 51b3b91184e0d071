// Native resources of the CUDA backend are released even when a driver call fails on the way: a device's
// dispose goes on past a failing step, a failing constructor gives back what it retained and says so when that
// fails too, a storage whose free failed can be freed again, and the ring's device helpers (slices across GPUs,
// sharding and gathering, the benchmark's event clock) leave nothing allocated when they throw. Fake driver.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { kernelFunction } from '../../src/backend/cuda/modules.js';
import { cudaDevice, useDriverForTesting } from '../../src/backend/cuda/runtime.js';
import { setGuardBytesForTesting } from '../../src/backend/cuda/storage.js';
import { timeOnDevice } from '../../src/backend/cuda/timing.js';
import { BackendUnavailableError, CudaError, flashMhaBwd, flashMhaFwd, gatherSequence, randn, shardSequence } from '../../src/index.js';
import { timeComputeOnDevices } from '../../src/ring/cuda-clock.js';
import { orderAcross } from '../../src/ring/cuda-copy.js';
import { cudaRingOps } from '../../src/ring/cuda-ops.js';
import { LocalCudaTransport } from '../../src/ring/cuda-transport.js';
import { type RingStats, emptyStats, timed } from '../../src/ring/schedule.js';
import { FakeDriver } from './cuda-fake-driver.js';
import { useFakeBuild } from './cuda-fake-setup.js';

const { build, newFake } = useFakeBuild();
// A second module file, so a device holds two modules to unload.
writeFileSync(join(build.directory, 'other.fatbin'), 'not a real fatbin either');

const count = (fake: FakeDriver, call: string) => fake.calls.filter((c) => c === call).length;

/** Loads two modules into cuda:0 and creates its transfer stream: everything a device can hold. */
function busyDevice(fake: FakeDriver) {
  const device = cudaDevice('cuda:0');
  const [symbol] = Object.keys(build.kernels);
  kernelFunction(device, { file: 'fake.fatbin', symbol, smemBytes: 0 });
  kernelFunction(device, { file: 'other.fatbin', symbol, smemBytes: 0 });
  void device.transferStream;
  assert.equal(count(fake, 'cuModuleLoadData'), 2);
  return device;
}

/** The messages of the warnings `run` emits (they arrive on a later tick). */
async function warningsOf(run: () => void): Promise<string[]> {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    run();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return warnings;
}

test('device dispose: a failing step does not stop the rest; the first error is thrown', () => {
  for (const failing of ['cuStreamSynchronize', 'cuModuleUnload', 'cuStreamDestroy']) {
    const fake = newFake();
    const device = busyDevice(fake);
    fake.failures.set(failing, 700);
    assert.throws(() => device.dispose(), (e: unknown) => e instanceof CudaError && e.call === failing, failing);
    fake.failures.clear();
    assert.equal(count(fake, 'cuModuleUnload'), 2, `${failing}: both modules unloaded`);
    assert.equal(count(fake, 'cuStreamDestroy'), 2, `${failing}: both streams destroyed`);
    assert.equal(fake.contextsReleased, 1, `${failing}: the context released`);
  }
});

test('runtime dispose: a device whose dispose fails does not keep the others from releasing their contexts', () => {
  const fake = newFake({ devices: 2 });
  cudaDevice('cuda:0');
  cudaDevice('cuda:1');
  fake.failures.set('cuStreamDestroy', 700);
  assert.throws(() => useDriverForTesting(undefined), (e: unknown) => e instanceof CudaError && e.call === 'cuStreamDestroy');
  assert.equal(fake.contextsReleased, 2);
});

test('a device that cannot be set up releases its stream and context, and warns when that release fails too', async () => {
  for (const failing of ['cuStreamDestroy', 'cuDevicePrimaryCtxRelease']) {
    const fake = newFake();
    fake.failures.set('cuDeviceGetDefaultMemPool', 700);
    fake.failures.set(failing, 700);
    const warnings = await warningsOf(() =>
      assert.throws(() => cudaDevice('cuda:0'), (e: unknown) => e instanceof CudaError && e.call === 'cuDeviceGetDefaultMemPool', 'the setup error is the one thrown'),
    );
    assert.equal(count(fake, 'cuStreamDestroy'), 1, failing);
    assert.equal(fake.contextsReleased, 1, failing);
    assert.ok(warnings.some((m) => m.includes(`${failing} failed`)), `${failing}: warned (${warnings.join('; ')})`);
    fake.failures.clear();
  }
});

test('a storage whose free failed stays live, and a second dispose frees it', async () => {
  const fake = newFake();
  const t = randn([64], { dtype: 'float16', device: 'cuda' });
  fake.failures.set('cuMemFreeAsync', 700);
  assert.throws(() => t.dispose(), (e: unknown) => e instanceof CudaError && e.call === 'cuMemFreeAsync');
  fake.failures.clear();
  assert.equal(t.isDisposed, false);
  assert.equal((await t.data()).length, 64, 'still readable');
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.equal(fake.memory.usedBytes, 0);
});

test('ring slice onto another GPU: a failing move releases the cut it made first', () => {
  const fake = newFake({ devices: 2 });
  const source = randn([1, 8, 2, 4], { dtype: 'float16', device: 'cuda:0' });
  const sourceBytes = fake.memory.usedBytes;
  // cuEventRecord orders the copy between the GPUs; the cut on cuda:0 needs none.
  fake.failures.set('cuEventRecord', 700);
  assert.throws(() => cudaRingOps.slice(source.storage(), source.shape, 1, 2, 4, 'cuda:1'), (e: unknown) => e instanceof CudaError && e.call === 'cuEventRecord');
  fake.failures.clear();
  assert.equal(fake.memory.usedBytes, sourceBytes);
  source.dispose();
});

test('shardSequence and gatherSequence on cuda: an allocation failing at any point leaves nothing of theirs behind', () => {
  const fake = newFake();
  const devices = ['cuda:0', 'cuda:0'];
  const t = randn([1, 16, 2, 4], { dtype: 'float16', device: 'cuda:0' });
  const sourceBytes = fake.memory.usedBytes;
  // Zigzag over 2 ranks: each shard is 2 slices and their join (3 allocations), 6 in all.
  for (let successes = 0; successes < 6; successes++) {
    fake.failAfter('cuMemAllocAsync', successes, 2);
    assert.throws(() => shardSequence(t, devices, { layout: 'zigzag' }), /cuMemAllocAsync failed/, `shard, after ${successes}`);
    fake.failures.clear();
    assert.equal(fake.memory.usedBytes, sourceBytes, `shard: nothing left after ${successes} allocations`);
  }
  const sharded = shardSequence(t, devices, { layout: 'zigzag' });
  const shardedBytes = fake.memory.usedBytes;
  // Gathering cuts each shard in 2 (4 allocations), then joins the pieces (1).
  for (let successes = 0; successes < 5; successes++) {
    fake.failAfter('cuMemAllocAsync', successes, 2);
    assert.throws(() => gatherSequence(sharded), /cuMemAllocAsync failed/, `gather, after ${successes}`);
    fake.failures.clear();
    assert.equal(fake.memory.usedBytes, shardedBytes, `gather: nothing left after ${successes} allocations`);
  }
  sharded.dispose();
  t.dispose();
  assert.equal(fake.memory.usedBytes, 0);
});

test('the ring benchmark clock destroys its events when the ring call it times throws', async () => {
  const fake = newFake();
  const stats = emptyStats(2);
  const failingRing = () => {
    timed(stats, 0, 0, () => undefined);
    timed(stats, 0, 1, () => {
      throw new Error('ring call failed');
    });
  };
  await assert.rejects(timeComputeOnDevices(['cuda:0', 'cuda:0'], stats, failingRing), /ring call failed/);
  assert.equal(count(fake, 'cuEventCreate'), 4, 'a start and an end event per span');
  assert.equal(count(fake, 'cuEventDestroy'), 4);
});

test('the clock destroys every event even when one destroy fails', async () => {
  const fake = newFake();
  const stats = emptyStats(1);
  const ring = () => [0, 1].forEach((step) => timed(stats, step, 0, () => undefined));
  fake.failures.set('cuEventDestroy', 700);
  await assert.rejects(timeComputeOnDevices(['cuda:0'], stats, ring), (e: unknown) => e instanceof CudaError && e.call === 'cuEventDestroy');
  fake.failures.clear();
  assert.equal(count(fake, 'cuEventDestroy'), 4, 'every event of both spans');
});

test('timeOnDevice destroys every event, after a failing destroy and after a failing run (whose error goes on)', async () => {
  const fake = newFake();
  fake.failures.set('cuEventDestroy', 700);
  await assert.rejects(timeOnDevice('cuda:0', () => undefined, 3), (e: unknown) => e instanceof CudaError && e.call === 'cuEventDestroy');
  fake.failures.clear();
  assert.equal(count(fake, 'cuEventDestroy'), 4, 'a start event and one per repeat');
  let rejected: Promise<void> | undefined;
  const warnings = await warningsOf(() => {
    fake.failures.set('cuEventDestroy', 700);
    rejected = assert.rejects(timeOnDevice('cuda:0', () => { throw new Error('run failed'); }, 2), /run failed/);
  });
  await rejected;
  fake.failures.clear();
  assert.equal(count(fake, 'cuEventDestroy'), 4 + 3);
  assert.equal(warnings.length, 1, 'the failing destroys are a warning, not the error');
});

test('copy transport: a copy failing part-way frees the received buffers only after every compute stream waits for its transfers', () => {
  const fake = newFake({ devices: 2 });
  const sent = [0, 1].map((i) => [1, 2].map((j) => randn([1, 8, 2, 4], { seed: 10 * i + j, dtype: 'float16', device: `cuda:${i}` })));
  const before = fake.memory.usedBytes;
  const transport = new LocalCudaTransport(['cuda:0', 'cuda:1']);
  // The second block's first copy fails: the first block's two copies are already enqueued on cuda:1's transfer stream.
  fake.failAfter('cuMemcpyDtoDAsync', 2, 1);
  const from = fake.calls.length;
  assert.throws(() => transport.begin(sent.map((block) => block.map((t) => t.storage()))), (e: unknown) => e instanceof CudaError && e.call === 'cuMemcpyDtoDAsync');
  fake.failures.clear();
  const calls = fake.calls.slice(from);
  const failed = calls.lastIndexOf('cuMemcpyDtoDAsync');
  const firstFree = calls.indexOf('cuMemFreeAsync', failed);
  assert.ok(firstFree > failed, 'the received buffers are freed');
  // The fake copies at once, so only the order of the calls can show it: both devices' waits come before any free.
  assert.equal(calls.slice(failed, firstFree).filter((c) => c === 'cuStreamWaitEvent').length, 2);
  assert.equal(fake.memory.usedBytes, before, 'nothing received is left');
  for (const t of sent.flat()) t.dispose();
});

/** Lets `after` calls of `name` through, fails the next one with `result` (doing nothing, as a failing call does), then lets it through again. */
function failOnce(fake: FakeDriver, name: 'cuMemFreeAsync' | 'cuCtxSetCurrent', result: number, after = 0): void {
  const original = fake[name].bind(fake) as (...args: unknown[]) => number;
  let calls = 0;
  (fake as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    if (calls++ !== after) return original(...args);
    fake.calls.push(name);
    return result;
  };
}

test('a fault reported while waiting for a read is the error the user sees, not the event destroy that fails after it', async () => {
  const fake = newFake();
  const t = randn([64], { dtype: 'float16', device: 'cuda' });
  // After a kernel fault the context is broken: the wait reports the fault and every later call fails too.
  fake.failures.set('cuEventQuery', 700);
  fake.failures.set('cuEventDestroy', 1);
  let rejected: Promise<void> | undefined;
  const warnings = await warningsOf(() => {
    rejected = assert.rejects(t.data(), (e: unknown) => e instanceof CudaError && e.call === 'cuEventQuery');
  });
  await rejected;
  fake.failures.clear();
  assert.equal(count(fake, 'cuEventDestroy'), 1, 'the destroy was still tried');
  assert.ok(warnings.some((m) => m.includes('cuEventDestroy failed')), `the failing destroy is a warning (${warnings.join('; ')})`);
  t.dispose();
});

test('ordering two streams: a failing record or wait is the error reported, and the event is destroyed', () => {
  for (const failing of ['cuEventRecord', 'cuStreamWaitEvent']) {
    const fake = newFake();
    const device = cudaDevice('cuda:0');
    fake.failures.set(failing, 700);
    fake.failures.set('cuEventDestroy', 1);
    assert.throws(() => device.order(device.transferStream, device.stream), (e: unknown) => e instanceof CudaError && e.call === failing, failing);
    fake.failures.clear();
    assert.equal(count(fake, 'cuEventDestroy'), 1, failing);
  }
});

test('ordering streams of two GPUs: the wait failure is reported, and the event is destroyed even when the context switch back fails', () => {
  const fake = newFake({ devices: 2 });
  const [a, b] = [cudaDevice('cuda:0'), cudaDevice('cuda:1')];
  fake.failures.set('cuStreamWaitEvent', 700);
  fake.failures.set('cuEventDestroy', 1);
  assert.throws(() => orderAcross(a, a.stream, b, b.stream), (e: unknown) => e instanceof CudaError && e.call === 'cuStreamWaitEvent');
  fake.failures.clear();
  assert.equal(count(fake, 'cuEventDestroy'), 1);
  // On success: createEvent, the waiting side, then the switch back before the destroy (the third) fails.
  failOnce(fake, 'cuCtxSetCurrent', 201, 2);
  assert.throws(() => orderAcross(a, a.stream, b, b.stream), (e: unknown) => e instanceof CudaError && e.call === 'cuCtxSetCurrent');
  assert.equal(count(fake, 'cuEventDestroy'), 2, 'destroyed although the switch back failed');
});

test('the ring clock reports the fault its wait sees, not the failing destroys after it', async () => {
  const fake = newFake();
  const stats = emptyStats(1);
  const ring = () => [0, 1].forEach((step) => timed(stats, step, 0, () => undefined));
  fake.failures.set('cuEventQuery', 700);
  fake.failures.set('cuEventDestroy', 1);
  let rejected: Promise<void> | undefined;
  await warningsOf(() => {
    rejected = assert.rejects(timeComputeOnDevices(['cuda:0'], stats, ring), (e: unknown) => e instanceof CudaError && e.call === 'cuEventQuery');
  });
  await rejected;
  fake.failures.clear();
  assert.equal(count(fake, 'cuEventDestroy'), 4, 'every event of both spans');
});

test('a timed ring step: the work\'s error goes on when closing its span fails too', async () => {
  const stats = emptyStats(1);
  stats.clock = {
    begin: () => undefined,
    end: () => {
      throw new Error('end failed');
    },
  } as unknown as RingStats['clock'];
  const warnings = await warningsOf(() =>
    assert.throws(() => timed(stats, 0, 0, () => {
      throw new Error('work failed');
    }), /work failed/),
  );
  assert.ok(warnings.some((m) => m.includes('end failed')));
  assert.throws(() => timed(stats, 0, 0, () => undefined), /end failed/, 'on success the failing end is the error');
});

test('a failing backward launch is the error reported, and every buffer the call allocated is freed though one free fails', async () => {
  const fake = newFake();
  const [q, k, v, dout] = [1, 2, 3, 4].map((seed) => randn([1, 64, 2, 64], { seed, dtype: 'float16', device: 'cuda' }));
  const { out, lse } = flashMhaFwd(q, k, v);
  const [allocs, frees] = [count(fake, 'cuMemAllocAsync'), count(fake, 'cuMemFreeAsync')];
  fake.failures.set('cuLaunchKernel', 700);
  fake.failures.set('cuLaunchKernelEx', 700);
  // The first free is a workspace's (softmax_d), the dq accumulator's comes after it.
  failOnce(fake, 'cuMemFreeAsync', 1);
  const warnings = await warningsOf(() =>
    assert.throws(() => flashMhaBwd(dout, q, k, v, out, lse), (e: unknown) => e instanceof CudaError && e.call.startsWith('cuLaunchKernel')),
  );
  fake.failures.clear();
  const allocated = count(fake, 'cuMemAllocAsync') - allocs;
  assert.ok(allocated >= 5, `outputs and workspaces (${allocated})`);
  assert.equal(count(fake, 'cuMemFreeAsync') - frees, allocated, 'a free tried for every allocation');
  assert.equal(warnings.length, 1, 'the failing free is a warning');
  for (const t of [q, k, v, dout, out, lse]) t.dispose();
});

test('a guarded allocation whose fill fails is freed', () => {
  const fake = newFake();
  setGuardBytesForTesting(256);
  try {
    fake.failures.set('cuMemsetD8Async', 700);
    assert.throws(() => randn([64], { dtype: 'float16', device: 'cuda' }), (e: unknown) => e instanceof CudaError && e.call === 'cuMemsetD8Async');
    fake.failures.clear();
    assert.equal(fake.memory.usedBytes, 0);
  } finally {
    setGuardBytesForTesting(0);
  }
});

test('a failing device count is kept like a failing cuInit: the same BackendUnavailableError, libcuda asked once', () => {
  const fake = new FakeDriver();
  fake.failures.set('cuDeviceGetCount', 1);
  useDriverForTesting(fake);
  const attempt = () => {
    try {
      randn([2], { dtype: 'float16', device: 'cuda' });
    } catch (error) {
      return error;
    }
    assert.fail('expected a throw');
  };
  const first = attempt();
  assert.ok(first instanceof BackendUnavailableError && /cuDeviceGetCount failed/.test(first.message), String(first));
  assert.equal(attempt(), first);
  assert.equal(count(fake, 'cuInit'), 1);
});
