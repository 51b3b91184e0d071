import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { afterEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError, NcclError, gatherSequence, randn, shardSequence } from '../../src/index.js';
import { backendFor } from '../../src/backend.js';
import type { HostStorage, Storage } from '../../src/storage.js';
import { HostStorage as Host } from '../../src/storage.js';
import { ringFlashMhaFwd } from '../../src/ring/attention.js';
import { ringForward } from '../../src/ring/forward.js';
import { hostRingOps } from '../../src/ring/host-ops.js';
import * as nccl from '../../src/ring/nccl.js';
import { type CudaRingRuntime, NcclTransport } from '../../src/ring/nccl-transport.js';
import { setEnv } from '../support/env.js';
import { buildFakeLibrary } from '../support/fake-library.js';
import { cpuDevices, maxError } from './support.js';

let restoreLibrary: (() => void) | undefined;
/** Points the bindings at `path` for one test; afterEach puts the variable back and forgets the library loaded. */
function useNcclLibrary(path: string): void {
  restoreLibrary = setEnv({ FLASH_ATTN_NCCL_LIBRARY: path });
  nccl.resetNcclForTests();
}
afterEach(() => {
  restoreLibrary?.();
  restoreLibrary = undefined;
  nccl.resetNcclForTests();
});

const SOURCE = fileURLToPath(new URL('../../../tests/ring/fake-nccl.c', import.meta.url));

/** Builds the fake NCCL with the system C compiler; undefined (test skipped) without one. */
function buildFake(): string | undefined {
  return buildFakeLibrary(SOURCE, 'libnccl.so.2');
}

test('a missing libnccl.so.2 is a BackendUnavailableError', () => {
  useNcclLibrary('/nonexistent/libnccl.so.2');
  assert.equal(nccl.ncclAvailable(), false);
  assert.throws(() => nccl.ncclVersion(), (e: unknown) => e instanceof BackendUnavailableError && /cannot load/.test(e.message));
});

const fake = buildFake();

test('bindings against a fake NCCL: version, unique id, communicators, checked errors', { skip: fake ? false : 'no C compiler to build the fake NCCL' }, () => {
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

test('ring forward over the NCCL transport (fake NCCL, host memory) equals the copy transport', { skip: fake ? false : 'no C compiler to build the fake NCCL' }, async () => {
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

/** The fake's test hooks (fake-nccl.c): communicators not yet destroyed, and failing the next n destroys. */
function fakeHooks(path: string): { liveComms(): number; failDestroys(n: number): void } {
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as { load(path: string): { func(signature: string): (...args: unknown[]) => unknown } };
  // The same file as the bindings load: one copy of the library, so one set of counters.
  const lib = koffi.load(path);
  const live = lib.func('int fakeNcclLiveComms()') as () => number;
  const fail = lib.func('void fakeNcclFailDestroys(int n)') as (n: number) => void;
  return { liveComms: live, failDestroys: fail };
}

/** Storages that know whether they were disposed, from a host-memory CudaRingRuntime. */
class Tracked extends Host {
  disposed = false;
  override dispose(): void {
    this.disposed = true;
  }
}

test('dispose destroys every communicator even when one destroy fails, then reports that failure', { skip: fake ? false : 'no C compiler to build the fake NCCL' }, () => {
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

test('begin failing inside the NCCL group orders the transfers, then releases its receive buffers', { skip: fake ? false : 'no C compiler to build the fake NCCL' }, () => {
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
