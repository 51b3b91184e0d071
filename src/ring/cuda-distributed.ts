/**
 * The NCCL transport for a ring that spans several processes (hosts), each driving its local GPUs: after
 * `initDistributed` has handed every process the same unique id, each local GPU joins the group with
 * ncclCommInitRank under its global rank. The calls of one process sit inside one NCCL group, since a
 * process that initializes several ranks would otherwise wait on itself.
 */
import { cudaRingRuntime } from '../backend/cuda/ring.js';
import { cudaDevice } from '../backend/cuda/runtime.js';
import type { DistributedContext } from './distributed.js';
import { type JoinRingOptions, globalRanks } from './group.js';
import { NcclTransport } from './nccl-transport.js';
import * as nccl from './nccl.js';

export type DistributedRingOptions = Pick<JoinRingOptions, 'ranks' | 'worldSize'>;

export { globalRanks };

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
