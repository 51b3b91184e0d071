import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { BackendUnavailableError, NcclError, gatherSequence, randn, shardSequence } from '../../src/index.js';
import { backendFor } from '../../src/backend.js';
import type { HostStorage, Storage } from '../../src/storage.js';
import { HostStorage as Host } from '../../src/storage.js';
import { ringFlashMhaFwd } from '../../src/ring/attention.js';
import { ringForward } from '../../src/ring/forward.js';
import { hostRingOps } from '../../src/ring/host-ops.js';
import * as nccl from '../../src/ring/nccl.js';
import { type CudaRingRuntime, NcclTransport } from '../../src/ring/nccl-transport.js';
import { buildFakeNccl, fakeHooks, needsFake, useNcclLibrary } from './fake-nccl.js';
import { cpuDevices, maxError, thrownWithWarnings } from './support.js';

const fake = buildFakeNccl();

test('a missing libnccl.so.2 is a BackendUnavailableError', () => {
  useNcclLibrary('/nonexistent/libnccl.so.2');
  assert.equal(nccl.ncclAvailable(), false);
  assert.throws(() => nccl.ncclVersion(), (e: unknown) => e instanceof BackendUnavailableError && /cannot load/.test(e.message));
});

test('bindings against a fake NCCL: version, unique id, communicators, checked errors', { skip: needsFake(fake) }, () => {
  useNcclLibrary(fake!);
  assert.equal(nccl.ncclVersion(), 22105);
  const id = nccl.ncclUniqueId();
  assert.equal(id.length, 128);
  assert.equal(id[5], 16);
  const comm = nccl.commInitRank(id, 2, 1);
  assert.notEqual(comm, 0n);
  nccl.commDestroy(comm);
  assert.throws(
    () => nccl.commInitRank(id, 2, 7),
    (e: unknown) => e instanceof NcclError && e.code === 'ERR_NCCL' && e.resultName === 'ncclInvalidArgument' && /ncclCommInitRank failed: ncclInvalidArgument \(4\): invalid argument \(fake\)/.test(e.message),
  );
  assert.throws(() => nccl.commInitRank(new Uint8Array(5), 2, 0), NcclError);
  const comms = nccl.commInitAll([0, 1, 2]);
  assert.equal(comms.length, 3);
  for (const c of comms) nccl.commDestroy(c);
});

test('ring forward over the NCCL transport (fake NCCL, host memory) equals the copy transport', { skip: needsFake(fake) }, async () => {
  useNcclLibrary(fake!);
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as { address(value: unknown): bigint };
  const waited: string[] = [];
  const runtime: CudaRingRuntime = {
    pointerOf: (s: Storage) => koffi.address((s as HostStorage).array) as nccl.DevicePointer,
    allocateLike: (s: Storage, device: string) =>
      new Host(device, s.dtype, s.dtype === 'float32' ? new Float32Array(s.length) : new Uint16Array(s.length)),
    transferStream: () => 0n as nccl.StreamHandle,
    waitForTransfers: (device: string) => void waited.push(device),
  };
  const devices = cpuDevices(4);
  const shard = (shape: number[], seed: number) => shardSequence(randn(shape, { seed, dtype: 'bfloat16' }), devices, { layout: 'zigzag' });
  const [q, k, v] = [shard([1, 32, 4, 8], 1), shard([1, 32, 2, 8], 2), shard([1, 32, 2, 8], 3)];
  const viaCopy = ringFlashMhaFwd(q, k, v, { isCausal: true });
  const transport = NcclTransport.local(devices, [0, 1, 2, 3], runtime);
  const problem = {
    n: 1, lq: 32, lk: 32, h: 4, hk: 2, d: 8, dtype: 'bfloat16' as const, device: 'cpu:0', softmaxScale: 1 / Math.sqrt(8),
    windowLeft: -1, windowRight: 0, diagonalOffset: 0, outDtype: 'bfloat16' as const, deterministic: false,
  };
  const shards = (s: typeof q) => s.shards.map((t) => t.storage());
  const viaNccl = ringForward(
    { problem, layout: 'zigzag', devices, backend: backendFor('cpu'), ops: hostRingOps, transport },
    shards(q), shards(k), shards(v),
  );
  transport.dispose();
  const expected = await gatherSequence(viaCopy.out).toFloat32Array();
  const ncclOut = viaNccl.out.map((s) => (s as HostStorage).array as Uint16Array);
  const copyOut = viaCopy.out.shards.map((t) => t.storage() as HostStorage);
  ncclOut.forEach((a, r) => assert.deepEqual(a, copyOut[r].array, `rank ${r}`));
  assert.ok(expected.some((x) => x !== 0), 'the output is not trivially zero');
  viaNccl.lse.forEach((s, r) => assert.ok(maxError((s as HostStorage).array, (viaCopy.lse.shards[r].storage() as HostStorage).array) === 0, `lse rank ${r}`));
  assert.equal(waited.length, 3 * 4, 'finish waits on every device after each of the W - 1 steps');
  assert.throws(() => transport.begin([]), /disposed/);
});

/** Storages that know whether they were disposed, from a host-memory CudaRingRuntime. */
class Tracked extends Host {
  disposed = false;
  override dispose(): void {
    this.disposed = true;
  }
}

test('dispose destroys every communicator even when one destroy fails, then reports that failure', { skip: needsFake(fake) }, () => {
  useNcclLibrary(fake!);
  const hooks = fakeHooks(fake!);
  const before = hooks.liveComms();
  const unused = () => assert.fail('dispose needs no runtime');
  const runtime: CudaRingRuntime = { pointerOf: unused, allocateLike: unused, transferStream: unused, waitForTransfers: unused };
  const transport = NcclTransport.local(cpuDevices(3), [0, 1, 2], runtime);
  assert.equal(hooks.liveComms(), before + 3);
  hooks.failDestroys(1);
  assert.throws(() => transport.dispose(), (e: unknown) => e instanceof NcclError && /ncclCommDestroy failed/.test(e.message));
  assert.equal(hooks.liveComms(), before + 1, 'only the communicator whose destroy failed is left');
  assert.throws(() => transport.begin([]), /disposed/);
});

test('begin failing inside the NCCL group orders the transfers, then releases its receive buffers', { skip: needsFake(fake) }, () => {
  useNcclLibrary(fake!);
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as { address(value: unknown): bigint };
  const allocated: Tracked[] = [];
  const waited: string[] = [];
  const runtime: CudaRingRuntime = {
    pointerOf: (s: Storage) => koffi.address((s as HostStorage).array) as nccl.DevicePointer,
    allocateLike: (s: Storage, device: string) => {
      const copy = new Tracked(device, s.dtype, new Float32Array(s.length));
      allocated.push(copy);
      return copy;
    },
    transferStream: () => 0n as nccl.StreamHandle,
    waitForTransfers: (device: string) => void waited.push(device),
  };
  // A communicator of a one-rank group cannot reach rank 1 of a two-rank ring: the first ncclSend fails.
  const [solo] = nccl.commInitAll([0]);
  const devices = cpuDevices(2);
  const transport = new NcclTransport(devices, [solo, solo], runtime);
  const blocks = devices.map((device) => [new Host(device, 'float32', new Float32Array(4)), new Host(device, 'float32', new Float32Array(4))]);
  assert.throws(() => transport.begin(blocks), (e: unknown) => e instanceof NcclError && /ncclSend failed/.test(e.message));
  assert.equal(allocated.length, 4);
  assert.ok(allocated.every((s) => s.disposed), 'every receive buffer released');
  assert.deepEqual(waited, devices, 'each compute stream waits for its transfers before the buffers go');
  nccl.commDestroy(solo);
});

/** Where a host storage's elements are: the fake NCCL's "device pointer". */
function hostPointer(s: Storage): nccl.DevicePointer {
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as { address(value: unknown): bigint };
  return koffi.address((s as HostStorage).array) as nccl.DevicePointer;
}

/** A host-memory runtime whose receive buffers say whether they were released. */
function trackingRuntime(overrides: Partial<CudaRingRuntime> = {}): { runtime: CudaRingRuntime; allocated: Tracked[] } {
  const allocated: Tracked[] = [];
  const runtime: CudaRingRuntime = {
    pointerOf: hostPointer,
    allocateLike: (s: Storage, device: string) => {
      const copy = new Tracked(device, s.dtype, new Float32Array(s.length));
      allocated.push(copy);
      return copy;
    },
    transferStream: () => 0n as nccl.StreamHandle,
    waitForTransfers: () => {},
    ...overrides,
  };
  return { runtime, allocated };
}

const hostBlocks = (devices: readonly string[]) => devices.map((device) => [new Host(device, 'float32', new Float32Array(4))]);

test('begin: a transfer stream or pointer that fails on a later rank fails before the NCCL group, so no rank sends alone', { skip: needsFake(fake) }, () => {
  useNcclLibrary(fake!);
  const hooks = fakeHooks(fake!);
  const devices = cpuDevices(2);
  const injected = new Error('injected: cuStreamCreate failed');
  const failures: Record<string, Partial<CudaRingRuntime>> = {
    transferStream: {
      transferStream: (device: string) => {
        if (device === devices[1]) throw injected;
        return 0n as nccl.StreamHandle;
      },
    },
    pointerOf: {
      pointerOf: (s: Storage) => {
        if (s instanceof Tracked && s.device === devices[1]) throw injected;
        return hostPointer(s);
      },
    },
  };
  for (const [failing, overrides] of Object.entries(failures)) {
    const { runtime, allocated } = trackingRuntime(overrides);
    const transport = new NcclTransport(devices, nccl.commInitAll([0, 1]), runtime);
    const enqueued = hooks.enqueued();
    // Had rank 0's calls gone into the group first, its close would report rank 0's receive that no one sends.
    assert.throws(() => transport.begin(hostBlocks(devices)), (e: unknown) => e === injected, failing);
    assert.equal(hooks.enqueued(), enqueued, `${failing}: nothing enqueued`);
    assert.ok(allocated.length === 2 && allocated.every((s) => s.disposed), `${failing}: every receive buffer released`);
    transport.dispose();
  }
});

test('begin: a failing group close after a failed call warns instead of replacing that call\'s error', { skip: needsFake(fake) }, async () => {
  useNcclLibrary(fake!);
  const hooks = fakeHooks(fake!);
  const { runtime } = trackingRuntime();
  const devices = cpuDevices(2);
  // A one-rank communicator cannot reach rank 1 of a two-rank ring: the first ncclSend fails.
  const [solo] = nccl.commInitAll([0]);
  const transport = new NcclTransport(devices, [solo, solo], runtime);
  hooks.failGroupEnds(1);
  const { error, warnings } = await thrownWithWarnings(() => transport.begin(hostBlocks(devices)));
  assert.ok(error instanceof NcclError && /ncclSend failed/.test(error.message), `the send's error, got ${String(error)}`);
  assert.ok(warnings.some((m) => /ncclGroupEnd failed/.test(m)), `the close's failure warned (${warnings.join('; ')})`);
  nccl.commDestroy(solo);
});

test('begin: a group close that fails after every call succeeded is the error', { skip: needsFake(fake) }, () => {
  useNcclLibrary(fake!);
  const hooks = fakeHooks(fake!);
  const { runtime, allocated } = trackingRuntime();
  const devices = cpuDevices(2);
  using transport = new NcclTransport(devices, nccl.commInitAll([0, 1]), runtime);
  hooks.failGroupEnds(1);
  assert.throws(() => transport.begin(hostBlocks(devices)), (e: unknown) => e instanceof NcclError && /ncclGroupEnd failed: ncclInternalError/.test(e.message));
  assert.ok(allocated.every((s) => s.disposed), 'every receive buffer released');
});
