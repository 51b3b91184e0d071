import { bytesPerElement } from '../dtype.js';
import { disposeOnThrow, releaseAfterError, releaseAll, thenRelease } from '../release.js';
import type { Storage } from '../storage.js';
import * as nccl from './nccl.js';
import type { Block, InFlight, RingTransport } from './transport.js';

/**
 * What the NCCL transport needs from the CUDA runtime: raw device pointers of storages, fresh buffers,
 * and one transfer stream per rank. The CUDA backend (src/backend/cuda/) provides it; tests provide a
 * host-memory fake.
 */
export interface CudaRingRuntime {
  /** The device pointer of a storage's first element. */
  pointerOf(s: Storage): nccl.DevicePointer;
  /** A new, uninitialized storage of the same dtype and length on `device`. */
  allocateLike(s: Storage, device: string): Storage;
  /** The stream transfers of `device` run on (not the compute stream, so they overlap with compute). */
  transferStream(device: string): nccl.StreamHandle;
  /**
   * Makes later work on `device`'s compute stream wait for its transfer stream (an event recorded on the
   * transfer stream, waited on by the compute stream); a runtime without streams may just synchronize.
   */
  waitForTransfers(device: string): void;
}

/** One storage's send to the next rank and receive into its buffer from the previous one. */
interface Transfer {
  from: nccl.DevicePointer;
  into: nccl.DevicePointer;
  bytes: number;
  next: number;
  previous: number;
  comm: nccl.CommHandle;
  stream: nccl.StreamHandle;
}

/**
 * Ring transport over NCCL point-to-point calls. Each local rank owns one communicator (commInitAll for
 * one process driving every local GPU, or commInitRank per rank after initDistributed); `begin` enqueues,
 * inside one NCCL group, every rank's send to the next rank and receive from the previous one on the
 * transfer streams and returns at once; `finish` orders the compute streams after the transfers.
 */
export class NcclTransport implements RingTransport {
  #comms: nccl.CommHandle[] | undefined;

  /**
   * @param devices  the local ranks' devices, in ring order
   * @param comms    one communicator per local rank (this transport destroys them on dispose)
   * @param ranks    each local rank's global rank, and `worldSize` the ring's length (all hosts)
   */
  constructor(
    readonly devices: readonly string[],
    comms: nccl.CommHandle[],
    private readonly runtime: CudaRingRuntime,
    private readonly ranks: readonly number[] = devices.map((_, i) => i),
    private readonly worldSize: number = devices.length,
  ) {
    this.#comms = comms;
  }

  /** One process driving all of `devices` (cuda:i); one communicator each from ncclCommInitAll. */
  static local(devices: readonly string[], deviceIndices: readonly number[], runtime: CudaRingRuntime): NcclTransport {
    return new NcclTransport(devices, nccl.commInitAll(deviceIndices), runtime);
  }

  begin(blocks: readonly Block[]): InFlight {
    const comms = this.#live();
    // On a failure the receive buffers reach no caller: they go back here.
    return disposeOnThrow((keep) => {
      const received: Storage[][] = blocks.map((block, r) => block.map((s) => keep(this.runtime.allocateLike(s, this.devices[r]))));
      try {
        this.#enqueue(blocks, received, comms);
      } catch (error) {
        // What the group did enqueue must finish before the buffers it writes are freed (in compute-stream order).
        releaseAfterError(this.devices.map((device) => () => this.runtime.waitForTransfers(device)));
        throw error;
      }
      return {
        finish: () => {
          for (const device of this.devices) this.runtime.waitForTransfers(device);
          return received;
        },
      };
    });
  }

  /**
   * Every local rank's send to the next rank and receive from the previous one, in one NCCL group. Everything that
   * can fail outside NCCL (a transfer stream made on first use, its ordering after the compute stream, a pointer of
   * the wrong storage) happens before the group opens: closing a group after some ranks' calls launches those alone,
   * and their peers wait on transfers that never come.
   */
  #enqueue(blocks: readonly Block[], received: readonly Storage[][], comms: readonly nccl.CommHandle[]): void {
    const transfers = blocks.flatMap((block, local) => this.#transfers(block, received[local], local, comms[local]));
    nccl.groupStart();
    // The group must be closed even when a call inside it failed (NCCL then drops the calls it holds instead of
    // launching them). A failing close after such a failure only warns: the call's own error names the cause.
    thenRelease(
      () => {
        for (const t of transfers) {
          nccl.send(t.from, t.bytes, t.next, t.comm, t.stream);
          nccl.recv(t.into, t.bytes, t.previous, t.comm, t.stream);
        }
      },
      () => [nccl.groupEnd],
    );
  }

  /** The NCCL calls of local rank `local`'s block, with every pointer and its stream resolved. */
  #transfers(block: Block, into: readonly Storage[], local: number, comm: nccl.CommHandle): Transfer[] {
    const rank = this.ranks[local];
    const next = (rank + 1) % this.worldSize;
    const previous = (rank - 1 + this.worldSize) % this.worldSize;
    const stream = this.runtime.transferStream(this.devices[local]);
    return block.map((s, i) => ({
      from: this.runtime.pointerOf(s),
      into: this.runtime.pointerOf(into[i]),
      bytes: s.length * bytesPerElement(s.dtype),
      next,
      previous,
      comm,
      stream,
    }));
  }

  #live(): nccl.CommHandle[] {
    if (!this.#comms) throw new nccl.NcclTransportDisposedError();
    return this.#comms;
  }

  /** Destroys every communicator, even after one fails (then throws the first error). */
  dispose(): void {
    const comms = this.#comms ?? [];
    this.#comms = undefined;
    releaseAll(comms.map((c) => () => nccl.commDestroy(c)));
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
