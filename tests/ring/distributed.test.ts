import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError, DistributedError, OptionError, initDistributed } from '../../src/index.js';
import * as nccl from '../../src/ring/nccl.js';
import { withEnvAsync } from '../support/env.js';

const RANK_SCRIPT = fileURLToPath(new URL('./rank-process.js', import.meta.url));

interface Outcome {
  ok: boolean;
  rank?: number;
  idHex?: string;
  name?: string;
  code?: string;
  message?: string;
}

/** A port that was free a moment ago on loopback. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts one rank in its own process and resolves with what it reported. */
function rankProcess(options: { coordinator: string; rank: number; worldSize: number; timeoutMs: number }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = fork(RANK_SCRIPT, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let outcome: Outcome | undefined;
    child.on('message', (m) => (outcome = m as Outcome));
    child.on('error', reject);
    child.on('exit', (code) => (outcome ? resolve(outcome) : reject(new Error(`rank ${options.rank} exited with ${code} and no report`))));
  });
}

const fakeId = () => Uint8Array.from({ length: 128 }, (_, i) => (i * 37 + 11) & 0xff);

test('four processes on loopback form a group and all receive rank 0\'s id', async () => {
  const coordinator = `127.0.0.1:${await freePort()}`;
  const worldSize = 4;
  // Other ranks start first: they must retry until rank 0 listens.
  const others = [1, 2, 3].map((rank) => rankProcess({ coordinator, rank, worldSize, timeoutMs: 20_000 }));
  await new Promise((r) => setTimeout(r, 300));
  const id = fakeId();
  const root = await initDistributed({ coordinator, rank: 0, worldSize, uniqueId: id, timeoutMs: 20_000 });
  assert.deepEqual(root.uniqueId, id);
  const results = await Promise.all(others);
  for (const [i, r] of results.entries()) {
    assert.ok(r.ok, `rank ${i + 1}: ${r.message}`);
    assert.equal(r.rank, i + 1);
    assert.equal(r.idHex, Buffer.from(id).toString('hex'));
  }
});

test('a missing rank makes rank 0 time out naming it, and the waiting rank is told', async () => {
  const coordinator = `127.0.0.1:${await freePort()}`;
  const joined = rankProcess({ coordinator, rank: 1, worldSize: 3, timeoutMs: 10_000 });
  await assert.rejects(
    initDistributed({ coordinator, rank: 0, worldSize: 3, uniqueId: fakeId(), timeoutMs: 1500 }),
    (e: unknown) => e instanceof DistributedError && e.code === 'ERR_DISTRIBUTED' && /ranks \[2\] of 3 never joined/.test(e.message),
  );
  const r = await joined;
  assert.equal(r.ok, false);
  assert.equal(r.name, 'DistributedError');
  assert.match(r.message ?? '', /coordinator refused rank 1.*never joined/);
});

test('an unreachable coordinator is a timeout error saying why', async () => {
  const coordinator = `127.0.0.1:${await freePort()}`;
  const r = await rankProcess({ coordinator, rank: 1, worldSize: 2, timeoutMs: 600 });
  assert.equal(r.ok, false);
  assert.equal(r.code, 'ERR_DISTRIBUTED');
  assert.match(r.message ?? '', /rank 1 got no unique id from the coordinator .* within 600 ms \(last: ECONNREFUSED\)/);
});

test('a worldSize mismatch fails both sides', async () => {
  const coordinator = `127.0.0.1:${await freePort()}`;
  const wrong = rankProcess({ coordinator, rank: 1, worldSize: 3, timeoutMs: 10_000 });
  await assert.rejects(
    initDistributed({ coordinator, rank: 0, worldSize: 2, uniqueId: fakeId(), timeoutMs: 10_000 }),
    (e: unknown) => e instanceof DistributedError && /rank 1 has worldSize 3, rank 0 has 2/.test(e.message),
  );
  const r = await wrong;
  assert.equal(r.ok, false);
  assert.match(r.message ?? '', /worldSize 3/);
});

test('bad options are OptionErrors naming the option', async () => {
  const ok = { coordinator: '127.0.0.1:1234', rank: 0, worldSize: 2 };
  await assert.rejects(initDistributed({ ...ok, coordinator: 'localhost' }), (e: unknown) => e instanceof OptionError && /^coordinator:/.test(e.message));
  await assert.rejects(initDistributed({ ...ok, coordinator: 'h:70000' }), OptionError);
  await assert.rejects(initDistributed({ ...ok, rank: 2 }), (e: unknown) => e instanceof OptionError && /^rank: expected an integer in 0\.\.1/.test(e.message));
  await assert.rejects(initDistributed({ ...ok, worldSize: 0 }), (e: unknown) => e instanceof OptionError && /^worldSize:/.test(e.message));
  await assert.rejects(initDistributed({ ...ok, uniqueId: new Uint8Array(0) }), (e: unknown) => e instanceof OptionError && /^uniqueId:/.test(e.message));
  // null is a wrong value, not the default (which would wait 60 s).
  await assert.rejects(initDistributed({ ...ok, timeoutMs: null as never }), (e: unknown) => e instanceof OptionError && /^timeoutMs: expected a positive number, got null$/.test(e.message));
  await assert.rejects(initDistributed({ ...ok, nccl: 'no' as never }), (e: unknown) => e instanceof OptionError && /^nccl: expected a boolean/.test(e.message));
  await assert.rejects(
    initDistributed({ ...ok, ncl: false } as never),
    (e: unknown) => e instanceof OptionError && /^options: unknown option 'ncl'; expected coordinator, rank, worldSize, timeoutMs, uniqueId, nccl$/.test(e.message),
  );
  await assert.rejects(initDistributed({ ...ok, world_size: 2 } as never), (e: unknown) => e instanceof OptionError && /'world_size' \(did you mean worldSize\?\)/.test(e.message));
  await assert.rejects(initDistributed(null as never), (e: unknown) => e instanceof OptionError && /^options: expected a plain object, got null$/.test(e.message));
});

test('rank 0 without NCCL and without a given id says NCCL is unavailable', async () => {
  nccl.resetNcclForTests();
  await withEnvAsync({ FLASH_ATTN_NCCL_LIBRARY: '/nonexistent/libnccl.so.2' }, async () => {
    await assert.rejects(
      initDistributed({ coordinator: '127.0.0.1:1', rank: 0, worldSize: 1 }),
      (e: unknown) => e instanceof BackendUnavailableError && /NCCL: cannot load \/nonexistent\/libnccl\.so\.2/.test(e.message),
    );
    // A group of one needs no network: the given id comes straight back.
    const alone = await initDistributed({ coordinator: '127.0.0.1:1', rank: 0, worldSize: 1, uniqueId: fakeId() });
    assert.deepEqual(alone.uniqueId, fakeId());
  });
  nccl.resetNcclForTests();
});
