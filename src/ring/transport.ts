import type { Storage } from '../storage.js';

/** The storages one rank passes on in one ring step (K and V segments, or dK and dV accumulators). */
export type Block = readonly Storage[];

/** A ring step under way; `finish` waits for it and returns, per rank, the block it received. */
export interface InFlight {
  finish(): Storage[][];
}

/**
 * Moves blocks one step along the ring: rank r sends to rank (r + 1) % W and receives from rank
 * (r - 1 + W) % W. `begin` returns at once where the hardware allows (NCCL on its own stream), so the
 * ring loop starts the next block's transfer, computes on the current one, then calls `finish`.
 * Sent storages stay owned by the caller and must stay alive until `finish`; received ones belong to it after.
 */
export interface RingTransport {
  readonly devices: readonly string[];
  begin(blocks: readonly Block[]): InFlight;
  dispose(): void;
  [Symbol.dispose](): void;
}
