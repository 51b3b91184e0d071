/**
 * The ring transport between processes for CPU devices: blocks travel as frames (frames.ts) over TCP
 * connections between neighbouring processes; blocks between two ranks of the same process are copied.
 * Connections are made by joinRing (group.ts); this file only moves blocks and reports failures.
 */
import type { Socket } from 'node:net';
import { describe } from '../errors.js';
import { HostStorage, type Storage } from '../storage.js';
import { DistributedError } from './errors.js';
import { type Frame, FrameReader, type PartInfo, encodeFrame } from './frames.js';
import type { AsyncInFlight, AsyncRingTransport, Block } from './transport.js';

/** How the ring's ranks sit on processes. */
export interface RingLayoutOnProcesses {
  /** this process's index (its initDistributed rank) */
  process: number;
  /** global rank of each local device */
  ranks: readonly number[];
  worldSize: number;
  /** the process holding each global rank */
  ownerOf: (rank: number) => number;
}

interface Waiter {
  resolve(frame: Frame): void;
  reject(error: DistributedError): void;
  timer: NodeJS.Timeout;
}

/** Frames arriving from one process, matched to waiting receivers by (seq, receiving rank). */
class IncomingLink {
  readonly frames = new Map<string, Frame>();
  readonly waiters = new Map<string, Waiter>();
  /** why the link can deliver nothing more, once it closed */
  closed: string | undefined;

  constructor(
    readonly process: number,
    readonly socket: Socket,
    reader: FrameReader,
    onFailure: (reason: string) => void,
  ) {
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (error) {
        onFailure(`process ${process} sent a malformed frame: ${(error as Error).message}`);
        socket.destroy();
        return;
      }
      for (const f of frames) this.#deliver(f);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => this.close(`the connection from process ${process} failed: ${e.code ?? e.message}`));
    socket.on('close', () => this.close(`the connection from process ${process} closed (did it exit or fail?)`));
    if (socket.destroyed) this.close(`the connection from process ${process} closed (did it exit or fail?)`);
    // joinRing paused the socket after the hello so that no block is lost before this listener.
    socket.resume();
  }

  #deliver(frame: Frame): void {
    const key = `${frame.header.seq}/${frame.header.to}`;
    const waiter = this.waiters.get(key);
    if (!waiter) {
      this.frames.set(key, frame);
      return;
    }
    this.waiters.delete(key);
    clearTimeout(waiter.timer);
    waiter.resolve(frame);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = reason;
    const waiters = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(new DistributedError(`ring: ${reason}`));
    }
  }
}

export class TcpRingTransport implements AsyncRingTransport {
  readonly asynchronous = true;
  readonly devices: readonly string[];
  #seq = 0;
  #failure: DistributedError | undefined;
  #disposed = false;
  readonly #incoming: Map<number, IncomingLink>;

  /**
   * @param outgoing  a connected socket to each process this one sends to
   * @param incoming  a connected socket (and its reader, which may hold bytes already read) from each
   *                  process this one receives from
   */
  constructor(
    devices: readonly string[],
    private readonly layout: RingLayoutOnProcesses,
    private readonly outgoing: ReadonlyMap<number, Socket>,
    incoming: ReadonlyMap<number, { socket: Socket; reader: FrameReader; pending: Frame[] }>,
    private readonly timeoutMs: number,
  ) {
    this.devices = devices;
    this.#incoming = new Map();
    for (const [p, { socket, reader, pending }] of incoming) {
      const link = new IncomingLink(p, socket, reader, (reason) => this.#fail(new DistributedError(`ring: ${reason}`)));
      for (const f of pending) link.frames.set(`${f.header.seq}/${f.header.to}`, f);
      this.#incoming.set(p, link);
    }
    for (const [p, socket] of outgoing) {
      // A failed send surfaces at the next begin, or as the receiver's closed connection.
      socket.on('error', (e: NodeJS.ErrnoException) => this.#fail(new DistributedError(`ring: sending to process ${p} failed: ${e.code ?? e.message}`)));
    }
  }

  begin(blocks: readonly Block[]): AsyncInFlight {
    this.#check();
    const { ranks, worldSize: w, ownerOf, process } = this.layout;
    if (blocks.length !== ranks.length) {
      throw new DistributedError(`ring: expected one block per local rank (${ranks.length}), got ${blocks.length}`);
    }
    const seq = this.#seq++;
    const localIndex = new Map(ranks.map((r, i) => [r, i]));
    const received: Storage[][] = blocks.map(() => []);
    blocks.forEach((block, i) => {
      const next = (ranks[i] + 1) % w;
      const j = localIndex.get(next);
      if (j !== undefined) {
        received[j] = block.map((s) => new HostStorage(this.devices[j], s.dtype, hostArray(s).slice()));
        return;
      }
      const socket = this.outgoing.get(ownerOf(next));
      if (!socket) throw new DistributedError(`ring: process ${process} has no connection to process ${ownerOf(next)} (rank ${next})`);
      const parts = block.map((s) => ({ dtype: s.dtype, length: s.length }));
      socket.write(encodeFrame({ kind: 'block', seq, from: ranks[i], to: next, parts }, block.map(hostArray)));
    });
    const remote = ranks.flatMap((rank, i) => {
      const previous = (rank - 1 + w) % w;
      return localIndex.has(previous) ? [] : [{ i, rank, previous, expected: blocks[i].map((s) => ({ dtype: s.dtype, length: s.length })) }];
    });
    return {
      finish: async () => {
        const frames = await Promise.all(remote.map((x) => this.#receive(seq, x.rank, x.previous)));
        remote.forEach((x, n) => {
          const got = frames[n].header.parts ?? [];
          if (!sameParts(got, x.expected)) {
            throw this.#fail(
              new DistributedError(
                `ring: rank ${x.rank} received from rank ${x.previous} (process ${ownerOf(x.previous)}) at transfer ${seq} a block of ` +
                  `${describeParts(got)}, expected ${describeParts(x.expected)} like its own: do all processes pass the same shapes, dtypes and layout?`,
              ),
            );
          }
          received[x.i] = frames[n].parts.map((a, k) => new HostStorage(this.devices[x.i], got[k].dtype, a));
        });
        return received;
      },
    };
  }

  #receive(seq: number, rank: number, from: number): Promise<Frame> {
    this.#check();
    const owner = this.layout.ownerOf(from);
    const link = this.#incoming.get(owner);
    if (!link) return Promise.reject(new DistributedError(`ring: process ${this.layout.process} has no connection from process ${owner} (rank ${from})`));
    const key = `${seq}/${rank}`;
    const ready = link.frames.get(key);
    if (ready) {
      link.frames.delete(key);
      return Promise.resolve(ready);
    }
    if (link.closed) return Promise.reject(this.#fail(new DistributedError(`ring: rank ${rank} waits for rank ${from}'s block, but ${link.closed}`)));
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.waiters.delete(key);
        reject(
          this.#fail(
            new DistributedError(
              `ring: rank ${rank} waited ${this.timeoutMs} ms for the block of rank ${from} (process ${owner}) at transfer ${seq}; is that process still running the same ring call?`,
            ),
          ),
        );
      }, this.timeoutMs);
      link.waiters.set(key, {
        resolve,
        reject: (e) => reject(this.#fail(new DistributedError(`${e.message} while rank ${rank} waited for the block of rank ${from} at transfer ${seq}`))),
        timer,
      });
    });
  }

  /** Records the first failure: after it the processes are out of step, so every later call fails too. */
  #fail(error: DistributedError): DistributedError {
    if (this.#failure) return error;
    this.#failure = error;
    // Nothing more will arrive in step: release every other waiter (and its timer) now.
    for (const link of this.#incoming.values()) {
      const waiters = [...link.waiters.values()];
      link.waiters.clear();
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.reject(error);
      }
    }
    return error;
  }

  #check(): void {
    if (this.#disposed) throw new DistributedError('ring: the group was disposed; join a new one');
    if (this.#failure) throw new DistributedError(`ring: the group failed earlier and its processes are out of step (${this.#failure.message})`);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const link of this.#incoming.values()) {
      link.close('the group was disposed');
      link.socket.destroy();
    }
    for (const socket of this.outgoing.values()) closeGracefully(socket);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Ends a socket after its queued writes (the last blocks) are out; destroys it if that takes long. */
export function closeGracefully(socket: Socket, graceMs = 2000): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), graceMs);
  socket.once('close', () => clearTimeout(timer));
  socket.end();
}

function hostArray(s: Storage): Float32Array | Uint16Array {
  const array = (s as { array?: unknown }).array;
  if (!(array instanceof Float32Array || array instanceof Uint16Array)) {
    throw new DistributedError(`ring: the TCP transport moves CPU storages only, got one on ${describe(s.device)}`);
  }
  return array;
}

function sameParts(a: readonly PartInfo[], b: readonly PartInfo[]): boolean {
  return a.length === b.length && a.every((p, i) => p.dtype === b[i].dtype && p.length === b[i].length);
}

function describeParts(parts: readonly PartInfo[]): string {
  return `${parts.length} part(s) of ${parts.map((p) => `${p.length} ${p.dtype}`).join(', ')}`;
}
