/**
 * The NCCL transport for a ring that spans several processes (hosts), each driving its local GPUs: after
 * `initDistributed` has handed every process the same unique id, each local GPU joins the group with
 * ncclCommInitRank under its global rank. The calls of one process sit inside one NCCL group, since a
 * process that initializes several ranks would otherwise wait on itself.
 */
import { cudaRingRuntime } from '../backend/cuda/ring.js';
import { cudaDevice } from '../backend/cuda/runtime.js';
import { OptionError, describe } from '../errors.js';
import type { DistributedContext } from './distributed.js';
import { NcclTransport } from './nccl-transport.js';
import * as nccl from './nccl.js';

export interface DistributedRingOptions {
  /**
   * Global rank of each local device, in ring order. Default: process rank * local count + i, which
   * assumes every process drives the same number of GPUs.
   */
  ranks?: readonly number[];
  /** Ranks in the whole ring, all processes together. Default: processes * local count. */
  worldSize?: number;
}

/** Global ranks and ring size for `localCount` devices of the process `ctx`, checked. */
export function globalRanks(ctx: Pick<DistributedContext, 'rank' | 'worldSize'>, localCount: number, options: DistributedRingOptions = {}): { ranks: number[]; worldSize: number } {
  const worldSize = options.worldSize ?? ctx.worldSize * localCount;
  const ranks = options.ranks ? [...options.ranks] : Array.from({ length: localCount }, (_, i) => ctx.rank * localCount + i);
  if (!Number.isInteger(worldSize) || worldSize < localCount) {
    throw new OptionError(`worldSize: expected an integer >= ${localCount} (the local devices), got ${describe(worldSize)}`);
  }
  if (ranks.length !== localCount || new Set(ranks).size !== ranks.length || ranks.some((r) => !Number.isInteger(r) || r < 0 || r >= worldSize)) {
    throw new OptionError(`ranks: expected ${localCount} distinct integers in 0..${worldSize - 1}, one per local device, got ${describe(ranks)}`);
  }
  return { ranks, worldSize };
}

/**
 * An NcclTransport over this process's `devices` (cuda:i, distinct) as part of the ring of all
 * processes in `ctx`. The caller owns it: dispose() destroys the communicators.
 */
export function distributedCudaTransport(ctx: DistributedContext, devices: readonly string[], options: DistributedRingOptions = {}): NcclTransport {
  const { ranks, worldSize } = globalRanks(ctx, devices.length, options);
  const comms: nccl.CommHandle[] = [];
  try {
    nccl.groupStart();
    try {
      devices.forEach((device, i) => {
        // ncclCommInitRank binds the communicator to the current device.
        cudaDevice(device).makeCurrent();
        comms.push(nccl.commInitRank(ctx.uniqueId, worldSize, ranks[i]));
      });
    } finally {
      nccl.groupEnd();
    }
  } catch (error) {
    for (const c of comms) nccl.commDestroy(c);
    throw error;
  }
  return new NcclTransport(devices, comms, cudaRingRuntime, ranks, worldSize);
}
