import type { Storage } from '../storage.js';

/** The storages one rank passes on in one ring step (K and V segments, or dK and dV accumulators). */
export type Block = readonly Storage[];

/** A ring step under way; `finish` waits for it and returns, per local rank, the block it received. */
export interface InFlight {
  finish(): Storage[][];
}

/** A ring step under way whose arrival is awaited (blocks coming over sockets from other processes). */
export interface AsyncInFlight {
  finish(): Promise<Storage[][]>;
}

/**
 * Moves blocks one step along the ring: rank r sends to rank (r + 1) % W and receives from rank
 * (r - 1 + W) % W. `begin` returns at once where the hardware allows (NCCL on its own stream), so the
 * ring loop starts the next block's transfer, computes on the current one, then calls `finish`.
 * Sent storages stay owned by the caller and must stay alive until `finish`; received ones belong to it after.
 * `devices` are this process's ranks' devices; `blocks[i]` is local rank i's block.
 */
export interface RingTransport {
  readonly devices: readonly string[];
  begin(blocks: readonly Block[]): InFlight;
  dispose(): void;
  [Symbol.dispose](): void;
}

/**
 * A transport whose steps complete asynchronously (TCP between processes). The ring loop is the same;
 * only its driver differs: the async entry points (ringFlashMhaFwdAsync, ...) await each step.
 */
export interface AsyncRingTransport {
  readonly devices: readonly string[];
  readonly asynchronous: true;
  begin(blocks: readonly Block[]): AsyncInFlight;
  dispose(): void;
  [Symbol.dispose](): void;
}

export type AnyRingTransport = RingTransport | AsyncRingTransport;

export function isAsyncTransport(t: AnyRingTransport): t is AsyncRingTransport {
  return (t as Partial<AsyncRingTransport>).asynchronous === true;
}
