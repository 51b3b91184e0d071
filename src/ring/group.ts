/**
 * A ring that spans several processes (one per host, or one per GPU): each process holds some global
 * ranks of one ring of `worldSize` ranks. `joinRing(ctx, devices)` forms it after initDistributed, with a
 * second bootstrap round through the same coordinator that checks every process agrees on the ring and
 * hands out an address book; then the processes connect to their ring neighbours (CPU devices: TCP, see
 * tcp-transport.ts) or join one NCCL communicator (CUDA devices: cuda-distributed.ts).
 */
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { parseDevice } from '../device.js';
import { OptionError, describe } from '../errors.js';
import { checkOptionKeys, optionOr } from '../options.js';
import { type DistributedContext, type Joined, type Json, type Round, parseCoordinator, rendezvous } from './distributed.js';
import { DistributedError } from './errors.js';
import { type Frame, FrameReader, encodeFrame } from './frames.js';
import { checkDevices } from './sharded.js';
import { TcpRingTransport } from './tcp-transport.js';
import type { AnyRingTransport } from './transport.js';

export interface JoinRingOptions {
  /**
   * Global rank of each local device, in ring order. Default: process rank * local count + i, which
   * assumes every process holds the same number of devices.
   */
  ranks?: readonly number[];
  /** Ranks in the whole ring, all processes together. Default: processes * local count. */
  worldSize?: number;
  /** How long joining, and then each ring transfer, may wait for other processes, in ms (default 60000). */
  timeoutMs?: number;
  /** Where this process listens for its ring neighbours (CPU devices). Default: the coordinator's host if it is a loopback address, else 0.0.0.0. */
  listenHost?: string;
  /** The address other processes reach this one at. Default: the address the coordinator saw it connect from. */
  advertiseHost?: string;
}
const JOIN_RING_OPTION_NAMES = ['ranks', 'worldSize', 'timeoutMs', 'listenHost', 'advertiseHost'];

/** Global ranks and ring size for `localCount` devices of the process `ctx`, checked. */
export function globalRanks(
  ctx: Pick<DistributedContext, 'rank' | 'worldSize'>,
  localCount: number,
  options: Pick<JoinRingOptions, 'ranks' | 'worldSize'> = {},
): { ranks: number[]; worldSize: number } {
  // optionOr: left out (undefined) takes the default; null is refused by the checks below like any other wrong value.
  const worldSize = optionOr(options.worldSize, ctx.worldSize * localCount);
  const ranks = optionOr(options.ranks, Array.from({ length: localCount }, (_, i) => ctx.rank * localCount + i));
  if (!Number.isInteger(worldSize) || worldSize < localCount) {
    throw new OptionError(`worldSize: expected an integer >= ${localCount} (the local devices), got ${describe(worldSize)}`);
  }
  if (!Array.isArray(ranks) || ranks.length !== localCount || new Set(ranks).size !== ranks.length || ranks.some((r) => !Number.isInteger(r) || r < 0 || r >= worldSize)) {
    throw new OptionError(`ranks: expected ${localCount} distinct integers in 0..${worldSize - 1}, one per local device, got ${describe(ranks)}`);
  }
  return { ranks: [...ranks], worldSize };
}

/** A host option: undefined where left out, else a non-empty string (null is refused like any other wrong value). */
function checkHost(name: string, host: unknown): string | undefined {
  if (host === undefined) return undefined;
  if (typeof host !== 'string' || host.length === 0) throw new OptionError(`${name}: expected a host name or address, got ${describe(host)}`);
  return host;
}

/** joinRing's options, checked before any network traffic. */
function checkJoinOptions(ctx: DistributedContext, localCount: number, options: JoinRingOptions) {
  checkOptionKeys(options, JOIN_RING_OPTION_NAMES);
  const { ranks, worldSize } = globalRanks(ctx, localCount, options);
  const timeoutMs = optionOr(options.timeoutMs, 60_000);
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw new OptionError(`timeoutMs: expected a positive number, got ${describe(timeoutMs)}`);
  return { ranks, worldSize, timeoutMs, listenHost: checkHost('listenHost', options.listenHost), advertiseHost: checkHost('advertiseHost', options.advertiseHost) };
}

/** What one process declares in the ring round, and (with its address filled in) what the book lists. */
interface Entry {
  ranks: number[];
  worldSize: number;
  host: string | null;
  port: number;
  [key: string]: Json;
}

/**
 * This process's share of a ring over several processes. Shard tensors over it with
 * `shardSequence(t, group.devices, { layout, group })`; the ring then runs with every process computing
 * its own ranks. Owns its transport (sockets or NCCL communicators): dispose it when done.
 */
export class RingGroup {
  #disposed = false;

  /** @internal Use joinRing(). */
  constructor(
    /** this process's devices, one per local rank, in ring order */
    readonly devices: readonly string[],
    /** the global rank of each local device */
    readonly ranks: readonly number[],
    /** ranks in the whole ring */
    readonly worldSize: number,
    /** this process's rank among the processes, and their number (from initDistributed) */
    readonly processRank: number,
    readonly processCount: number,
    readonly transport: AnyRingTransport,
  ) {}

  get isDisposed(): boolean {
    return this.#disposed;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.transport.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `RingGroup(ranks ${describe([...this.ranks])} of ${this.worldSize} on process ${this.processRank} of ${this.processCount})`;
  }
}

/**
 * Joins the ring of all processes of `ctx` with this process's `devices` (all cpu or all cuda). Every
 * process must call it (the same number of times, in the same order). Resolves once this process is
 * connected to its ring neighbours; fails with a DistributedError naming the cause otherwise.
 */
export async function joinRing(ctx: DistributedContext, devices: readonly string[], options: JoinRingOptions = {}): Promise<RingGroup> {
  const names = checkDevices(devices);
  const { ranks, worldSize, timeoutMs, listenHost, advertiseHost } = checkJoinOptions(ctx, names.length, options);
  const { host, port } = parseCoordinator(ctx.coordinator);
  const round: Round = { label: 'joinRing', name: 'ring', what: 'address book', host, port, rank: ctx.rank, worldSize: ctx.worldSize, timeoutMs };
  const kind = parseDevice(names[0]).kind;

  if (kind === 'cuda') {
    // NCCL connects the ranks itself; the round only checks that the processes agree on the ring.
    await rendezvous(round, { ranks, worldSize, host: null, port: 0 }, addressBook);
    const { distributedCudaTransport } = await import('./cuda-distributed.js');
    const transport = distributedCudaTransport(ctx, names, { ranks, worldSize });
    return new RingGroup(names, ranks, worldSize, ctx.rank, ctx.worldSize, transport);
  }
  if (kind !== 'cpu') throw new OptionError(`devices: a ring across processes runs on cpu or cuda devices, got ${describe(kind)}`);

  const listener = await listen(listenHost ?? (isLoopback(host) ? host : '0.0.0.0'));
  const server = listener.server;
  try {
    const own: Entry = { ranks, worldSize, host: advertiseHost ?? null, port: (server.address() as AddressInfo).port };
    const book = (await rendezvous(round, own, addressBook)) as Entry[];
    const owner = new Map<number, number>();
    book.forEach((e, p) => e.ranks.forEach((r) => owner.set(r, p)));
    const ownerOf = (r: number) => owner.get(r)!;
    const me = ctx.rank;
    const sendTo = new Set(ranks.map((r) => ownerOf((r + 1) % worldSize)).filter((p) => p !== me));
    const receiveFrom = new Set(ranks.map((r) => ownerOf((r - 1 + worldSize) % worldSize)).filter((p) => p !== me));
    const group = Buffer.from(ctx.uniqueId.subarray(0, 16)).toString('hex');
    const { outgoing, incoming } = await connectNeighbours(listener, sendTo, receiveFrom, book, me, group, timeoutMs);
    const transport = new TcpRingTransport(names, { process: me, ranks, worldSize, ownerOf }, outgoing, incoming, timeoutMs);
    return new RingGroup(names, ranks, worldSize, me, ctx.worldSize, transport);
  } finally {
    server.close();
    // Connections nobody claimed (strays, or all of them after a failure).
    for (const s of listener.early) s.destroy();
  }
}

/** Rank 0's reply in the ring round: every entry checked, with the address other processes reach it at. */
function addressBook(joined: Joined[]): Json {
  const entries = joined.map((j) => j.payload as Entry);
  const worldSize = entries[0].worldSize;
  const holder = new Map<number, number>();
  entries.forEach((e, p) => {
    if (e.worldSize !== worldSize) {
      throw new DistributedError(`joinRing: process ${p} says the ring has ${e.worldSize} ranks, process 0 says ${worldSize}`);
    }
    for (const r of e.ranks) {
      if (holder.has(r)) throw new DistributedError(`joinRing: rank ${r} is held by processes ${holder.get(r)} and ${p}`);
      holder.set(r, p);
    }
  });
  const missing = Array.from({ length: worldSize }, (_, r) => r).filter((r) => !holder.has(r));
  if (missing.length > 0) throw new DistributedError(`joinRing: ranks ${describe(missing)} of ${worldSize} are held by no process`);
  return joined.map((j, p) => ({ ...entries[p], host: entries[p].host ?? j.remoteAddress }));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** A listening server, and the connections it got before anyone took them. */
interface Listener {
  server: Server;
  /** Faster neighbours may connect before this process has the address book: they wait here. */
  early: Socket[];
}

function listen(host: string): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    const early: Socket[] = [];
    server.on('connection', (socket: Socket) => early.push(socket));
    server.once('error', (e: NodeJS.ErrnoException) => reject(new DistributedError(`joinRing: cannot listen on ${host}: ${e.code ?? e.message}`)));
    server.listen(0, host, () => resolve({ server, early }));
  });
}

/**
 * The connections to the processes this one sends to and from those it receives from, made at once. When one side
 * fails the other gives up at once too, and what it had already made is closed: a socket left open would keep
 * this process alive and leave its peer waiting out its whole timeout.
 */
async function connectNeighbours(
  listener: Listener,
  sendTo: Set<number>,
  receiveFrom: Set<number>,
  book: Entry[],
  me: number,
  group: string,
  timeoutMs: number,
): Promise<{ outgoing: Map<number, Socket>; incoming: Map<number, Accepted> }> {
  const failed = new AbortController();
  const giveUpOnFailure = <T>(promise: Promise<T>) =>
    promise.catch((error: unknown) => {
      // The first failure is the cause; the other side then fails with it too.
      if (!failed.signal.aborted) failed.abort(error);
      throw error;
    });
  const [outgoing, incoming] = await Promise.allSettled([
    giveUpOnFailure(connectAll(sendTo, book, me, group, timeoutMs, failed.signal)),
    giveUpOnFailure(acceptAll(listener, receiveFrom, group, timeoutMs, me, failed.signal)),
  ]);
  if (outgoing.status === 'fulfilled' && incoming.status === 'fulfilled') return { outgoing: outgoing.value, incoming: incoming.value };
  if (outgoing.status === 'fulfilled') for (const s of outgoing.value.values()) s.destroy();
  if (incoming.status === 'fulfilled') for (const a of incoming.value.values()) a.socket.destroy();
  const error: unknown = failed.signal.reason;
  throw error instanceof DistributedError ? error : new DistributedError(`joinRing: ${(error as Error).message}`);
}

/** A promise that rejects with `signal`'s reason once it aborts, and what stops it listening. */
function whenAborted(signal: AbortSignal): { aborted: Promise<never>; stop: () => void } {
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return { aborted, stop: () => signal.removeEventListener('abort', onAbort) };
}

/** Connects to each process in `targets` and introduces this one; gives up when `signal` aborts. */
async function connectAll(
  targets: Set<number>,
  book: Entry[],
  me: number,
  group: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Map<number, Socket>> {
  const sockets = new Map<number, Socket>();
  const timers: NodeJS.Timeout[] = [];
  const { aborted, stop } = whenAborted(signal);
  try {
    await Promise.race([Promise.all([...targets].map((p) => connectTo(p, book[p], me, group, timeoutMs, sockets, timers))), aborted]);
  } catch (error) {
    for (const s of sockets.values()) s.destroy();
    throw error;
  } finally {
    // Every target's timer, not only the one that failed: a pending one would keep the process alive for timeoutMs.
    for (const timer of timers) clearTimeout(timer);
    stop();
  }
  return sockets;
}

/** Connects to process `p` at its entry and introduces this one, recording the socket and its timer. */
function connectTo(p: number, entry: Entry, me: number, group: string, timeoutMs: number, sockets: Map<number, Socket>, timers: NodeJS.Timeout[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const { host, port } = entry;
    const socket = connect({ host: host ?? '127.0.0.1', port });
    sockets.set(p, socket);
    socket.setNoDelay(true);
    const timer = setTimeout(() => reject(new DistributedError(`joinRing: process ${me} could not connect to process ${p} at ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    timers.push(timer);
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new DistributedError(`joinRing: process ${me} cannot connect to process ${p} at ${host}:${port}: ${e.code ?? e.message}`));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.write(encodeFrame({ kind: 'hello', group, process: me }));
      resolve();
    });
  });
}

interface Accepted {
  socket: Socket;
  reader: FrameReader;
  pending: Frame[];
}

/** Accepts one introduced connection from each process in `sources`; others are refused. Gives up when `signal` aborts. */
function acceptAll(
  { server, early }: Listener,
  sources: Set<number>,
  group: string,
  timeoutMs: number,
  me: number,
  signal: AbortSignal,
): Promise<Map<number, Accepted>> {
  const accepted = new Map<number, Accepted>();
  if (sources.size === 0) return Promise.resolve(accepted);
  return new Promise((resolve, reject) => {
    const strays = new Set<Socket>();
    const done = (error?: unknown) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      server.off('connection', onConnection);
      for (const s of strays) s.destroy();
      for (const a of accepted.values()) a.socket.removeAllListeners('data');
      if (error) {
        for (const a of accepted.values()) a.socket.destroy();
        reject(error);
      } else {
        resolve(accepted);
      }
    };
    const timer = setTimeout(() => {
      const missing = [...sources].filter((p) => !accepted.has(p));
      done(new DistributedError(`joinRing: process ${me} waited ${timeoutMs} ms; processes ${describe(missing)} never connected to it`));
    }, timeoutMs);
    const onAbort = () => done(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const onConnection = (socket: Socket) => {
      strays.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      const reader = new FrameReader(4096);
      socket.on('data', (chunk: Buffer) => {
        let frames: Frame[];
        try {
          frames = reader.push(chunk);
        } catch {
          socket.destroy();
          return;
        }
        if (frames.length === 0) return;
        const [hello, ...rest] = frames;
        const p = hello.header.process;
        if (hello.header.kind !== 'hello' || hello.header.group !== group || typeof p !== 'number' || !sources.has(p) || accepted.has(p)) {
          socket.destroy();
          return;
        }
        strays.delete(socket);
        // Blocks may follow at once: hold them in the socket until the transport reads it.
        socket.pause();
        socket.removeAllListeners('data');
        accepted.set(p, { socket, reader, pending: rest });
        if (accepted.size === sources.size) done();
      });
    };
    server.removeAllListeners('connection');
    server.on('connection', onConnection);
    for (const socket of early.splice(0)) onConnection(socket);
  });
}
