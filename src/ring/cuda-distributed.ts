/**
 * The NCCL transport for a ring that spans several processes (hosts), each driving its local GPUs: after
 * `initDistributed` has handed every process the same unique id, each local GPU joins the group with
 * ncclCommInitRank under its global rank. The calls of one process sit inside one NCCL group, since a
 * process that initializes several ranks would otherwise wait on itself.
 */
import { cudaRingRuntime } from '../backend/cuda/ring.js';
import { type CudaDevice, cudaDevice } from '../backend/cuda/runtime.js';
import { releaseAfterError, thenRelease } from '../release.js';
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
  const comms = initRanks(ctx.uniqueId, devicesReady(devices), ranks, worldSize);
  return new NcclTransport(devices, comms, cudaRingRuntime, ranks, worldSize);
}

/** One communicator per local GPU under its global rank, all in one NCCL group; none left behind on a failure. */
function initRanks(uniqueId: Uint8Array, gpus: readonly CudaDevice[], ranks: readonly number[], worldSize: number): nccl.CommHandle[] {
  const comms: nccl.CommHandle[] = [];
  try {
    nccl.groupStart();
    // The group must be closed even when a call inside it failed (after a failed NCCL call, NCCL drops the
    // initializations it holds instead of starting them). A failing close then only warns: the first error names the cause.
    thenRelease(
      () =>
        gpus.forEach((gpu, i) => {
          // ncclCommInitRank binds the communicator to the current device.
          gpu.makeCurrent();
          comms.push(nccl.commInitRank(uniqueId, worldSize, ranks[i]));
        }),
      () => [nccl.groupEnd],
    );
  } catch (error) {
    releaseAfterError(comms.map((c) => () => nccl.commDestroy(c)));
    throw error;
  }
  return comms;
}

/**
 * Every device set up and made current once, before the NCCL group opens: a device failing there, inside the
 * group, would leave the ranks initialized before it to start alone at ncclGroupEnd and wait for the whole ring
 * (every other process too) on one that never comes. Making each current again inside the group cannot be avoided
 * (ncclCommInitRank takes the device from it) but no longer sets anything up.
 */
function devicesReady(devices: readonly string[]): CudaDevice[] {
  return devices.map((device) => {
    const gpu = cudaDevice(device);
    gpu.makeCurrent();
    return gpu;
  });
}
