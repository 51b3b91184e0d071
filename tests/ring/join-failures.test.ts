// joinRing failing half way on CPU devices (TCP, in one process): the connections one side of it had already made
// are closed and no timer is left running, so the process can exit and its peer is not left waiting. The other
// process is played by hand (a bare listener, or a coordinator that speaks the bootstrap's protocol).
import assert from 'node:assert/strict';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { test } from 'node:test';
import { DistributedError, OptionError, joinRing } from '../../src/index.js';
import { type DistributedContext, type Round, rendezvous } from '../../src/ring/distributed.js';
import { encodeFrame } from '../../src/ring/frames.js';
import { freePort } from './distributed-launch.js';

const uniqueId = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const group = Buffer.from(uniqueId).toString('hex');

/** Whether `socket` closes within `ms` (the other end destroyed it). */
function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.closed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A listener that keeps every connection it gets, reads what comes (so it sees the other end close) and never answers. */
async function bareListener(): Promise<{ server: Server; port: number; connections: Socket[] }> {
  const connections: Socket[] = [];
  const server = createServer((socket) => {
    connections.push(socket);
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, connections };
}

const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('joinRing: when its neighbour never connects back, the connection it made to that neighbour is closed', async () => {
  const coordinator = `127.0.0.1:${await freePort()}`;
  const neighbour = await bareListener();
  const timers = activeTimers();
  const ctx: DistributedContext = { rank: 0, worldSize: 2, coordinator, uniqueId };
  const joining = joinRing(ctx, ['cpu:0'], { timeoutMs: 500 });
  // Process 1 joins the ring round (so process 0 connects to its listener), then never connects to process 0.
  const round: Round = { label: 'joinRing', name: 'ring', what: 'address book', host: '127.0.0.1', port: Number(coordinator.split(':')[1]), rank: 1, worldSize: 2, timeoutMs: 5000 };
  await rendezvous(round, { ranks: [1], worldSize: 2, host: '127.0.0.1', port: neighbour.port });
  await assert.rejects(joining, (e: unknown) => e instanceof DistributedError && /waited 500 ms; processes \[1\] never connected to it/.test(e.message));
  assert.equal(neighbour.connections.length, 1, 'process 0 had connected to process 1');
  assert.ok(await closesWithin(neighbour.connections[0], 2000), 'the connection process 0 made is closed');
  assert.equal(activeTimers(), timers, 'no timer left running');
  for (const s of neighbour.connections) s.destroy();
  neighbour.server.close();
});

/**
 * Rank 0 of the bootstrap played by hand: when rank 1's hello arrives, connects to rank 1's ring listener and
 * introduces itself there first, then sends the address book, in which process 0 listens on `deadPort`.
 */
function coordinatorThatConnectsFirst(port: number, deadPort: number): Promise<{ server: Server; introduced: Promise<Socket> }> {
  let introduce: (socket: Socket) => void = () => {};
  const introduced = new Promise<Socket>((resolve) => (introduce = resolve));
  const server = createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (!buffered.includes('\n')) return;
      const hello = JSON.parse(buffered.slice(0, buffered.indexOf('\n'))) as { payload: { ranks: number[]; worldSize: number; port: number } };
      const toRank1 = connect({ host: '127.0.0.1', port: hello.payload.port }, () => {
        toRank1.resume();
        toRank1.write(encodeFrame({ kind: 'hello', group, process: 0 }), () => {
          introduce(toRank1);
          // Time for rank 1's listener to take the connection before it has the book.
          setTimeout(() => {
            const book = [{ ranks: [0], worldSize: 2, host: '127.0.0.1', port: deadPort }, { ...hello.payload, host: '127.0.0.1' }];
            socket.end(`${JSON.stringify({ type: 'reply', round: 'ring', data: book })}\n`);
          }, 100);
        });
      });
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, introduced })));
}

test('joinRing: when connecting to its neighbour fails, the connection that neighbour made to it is closed', async () => {
  const port = await freePort();
  // A port nothing in the suite listens on (a free one, released again, could be taken by a listener of a test file
  // running beside this one before the connect, which would then not be refused).
  const deadPort = 1;
  const fake = await coordinatorThatConnectsFirst(port, deadPort);
  const timers = activeTimers();
  const ctx: DistributedContext = { rank: 1, worldSize: 2, coordinator: `127.0.0.1:${port}`, uniqueId };
  const started = Date.now();
  await assert.rejects(
    joinRing(ctx, ['cpu:1'], { timeoutMs: 5000 }),
    (e: unknown) => e instanceof DistributedError && /process 1 cannot connect to process 0 at 127\.0\.0\.1:\d+: ECONNREFUSED/.test(e.message),
  );
  assert.ok(Date.now() - started < 4000, 'the failure came at once, not after the accept side timed out');
  assert.ok(await closesWithin(await fake.introduced, 2000), 'the connection process 0 made to process 1 is closed');
  assert.equal(activeTimers(), timers, 'no timer left running');
  (await fake.introduced).destroy();
  fake.server.close();
});

test('joinRing refuses null for every option, like any other wrong value, before any network traffic', async () => {
  const ctx: DistributedContext = { rank: 0, worldSize: 1, coordinator: '127.0.0.1:1', uniqueId };
  for (const name of ['ranks', 'worldSize', 'timeoutMs', 'listenHost', 'advertiseHost']) {
    await assert.rejects(
      joinRing(ctx, ['cpu:0'], { [name]: null }),
      (e: unknown) => e instanceof OptionError && e.message.startsWith(`${name}: expected`) && e.message.endsWith('got null'),
      name,
    );
  }
  for (const name of ['listenHost', 'advertiseHost']) {
    await assert.rejects(joinRing(ctx, ['cpu:0'], { [name]: 7 }), (e: unknown) => e instanceof OptionError && /^\w+: expected a host name or address, got 7$/.test(e.message), name);
  }
  // Left out or undefined: the defaults.
  using group = await joinRing(ctx, ['cpu:0'], { timeoutMs: undefined, listenHost: undefined, advertiseHost: undefined });
  assert.deepEqual([...group.ranks], [0]);
});
