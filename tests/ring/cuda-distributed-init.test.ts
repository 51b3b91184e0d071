// distributedCudaTransport over a fake CUDA driver and the fake NCCL (no GPU): what fails does so before the NCCL
// group opens, and a failure after some communicators exist leaves none of them behind.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { useDriverForTesting } from '../../src/backend/cuda/runtime.js';
import { DeviceError, NcclError } from '../../src/index.js';
import { distributedCudaTransport } from '../../src/ring/cuda-distributed.js';
import type { DistributedContext } from '../../src/ring/distributed.js';
import * as nccl from '../../src/ring/nccl.js';
import { FakeDriver } from '../unit/cuda-fake-driver.js';
import { buildFakeNccl, fakeHooks, needsFake, useNcclLibrary } from './fake-nccl.js';
import { thrownWithWarnings } from './support.js';

const fake = buildFakeNccl();
after(() => useDriverForTesting(undefined));

/** One process holding both ranks of a two-rank ring, with the fake's unique id (the only one it accepts). */
function context(): DistributedContext {
  return { rank: 0, worldSize: 1, coordinator: '127.0.0.1:1', uniqueId: nccl.ncclUniqueId() };
}

test('one communicator per local GPU under its global rank, destroyed by dispose', { skip: needsFake(fake) }, () => {
  useNcclLibrary(fake!);
  useDriverForTesting(new FakeDriver({ devices: 2 }));
  const hooks = fakeHooks(fake!);
  const [live, calls] = [hooks.liveComms(), hooks.initRankCalls()];
  const transport = distributedCudaTransport(context(), ['cuda:0', 'cuda:1']);
  assert.equal(hooks.initRankCalls(), calls + 2);
  assert.equal(hooks.liveComms(), live + 2);
  transport.dispose();
  assert.equal(hooks.liveComms(), live);
});

test('a GPU that cannot be set up fails before the NCCL group: no rank starts its initialization alone', { skip: needsFake(fake) }, () => {
  useNcclLibrary(fake!);
  // cuda:1 does not exist: setting it up fails after cuda:0 is ready.
  useDriverForTesting(new FakeDriver({ devices: 1 }));
  const hooks = fakeHooks(fake!);
  const [live, calls] = [hooks.liveComms(), hooks.initRankCalls()];
  assert.throws(() => distributedCudaTransport(context(), ['cuda:0', 'cuda:1']), (e: unknown) => e instanceof DeviceError && /'cuda:1' does not exist/.test(e.message));
  assert.equal(hooks.initRankCalls(), calls, 'ncclCommInitRank never called');
  assert.equal(hooks.liveComms(), live);
});

test('a failing group close destroys every communicator made, even past a failing destroy, and its error stays the one thrown', { skip: needsFake(fake) }, async () => {
  useNcclLibrary(fake!);
  useDriverForTesting(new FakeDriver({ devices: 2 }));
  const hooks = fakeHooks(fake!);
  const live = hooks.liveComms();
  hooks.failGroupEnds(1);
  hooks.failDestroys(1);
  const { error, warnings } = await thrownWithWarnings(() => distributedCudaTransport(context(), ['cuda:0', 'cuda:1']));
  assert.ok(error instanceof NcclError && /ncclGroupEnd failed/.test(error.message), `the close's error, got ${String(error)}`);
  assert.equal(hooks.liveComms(), live + 1, 'only the communicator whose destroy failed is left');
  assert.ok(warnings.some((m) => /ncclCommDestroy failed/.test(m)), `the failed destroy warned (${warnings.join('; ')})`);
});
