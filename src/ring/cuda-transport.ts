/**
 * Ring transports between CUDA devices of this process.
 *
 * - Distinct local GPUs with libnccl.so.2: NCCL point-to-point on each device's transfer stream
 *   (NcclTransport); the communicators are created once per device list and kept for the process.
 * - Otherwise (one GPU repeated as W virtual ranks, a list that repeats a GPU, or no NCCL): device-to-
 *   device copies on the receiving device's transfer stream (LocalCudaTransport), so the ring code and its
 *   stream ordering are exercised with W virtual devices on one GPU.
 * FLASH_ATTN_RING_TRANSPORT=copy forces the copy transport (to compare with NCCL on several GPUs; ncclWanted).
 */
import { cudaRingRuntime } from '../backend/cuda/ring.js';
import type { CUstream } from '../backend/cuda/driver.js';
import { cudaDevice } from '../backend/cuda/runtime.js';
import { CudaStorage } from '../backend/cuda/storage.js';
import { parseDevice } from '../device.js';
import { OptionError, describe } from '../errors.js';
import { disposals, releaseAfterError } from '../release.js';
import type { Storage } from '../storage.js';
import { copyWhole, cudaStorageOf, orderAcross } from './cuda-copy.js';
import { NcclTransport } from './nccl-transport.js';
import { ncclAvailable } from './nccl.js';
import type { Block, InFlight, RingTransport } from './transport.js';

/**
 * Rank r's block goes to rank r + 1 as a device-to-device copy enqueued on the receiver's transfer
 * stream, so it overlaps the compute of the current step, exactly as NCCL's receive does. Ordering:
 * the transfer stream waits for the receiver's compute stream (which allocated the buffer) and the
 * sender's (which wrote the block); at `finish` the receiver's compute waits for the copy, and so does the
 * sender's (which frees the sent block afterwards).
 */
export class LocalCudaTransport implements RingTransport {
  constructor(readonly devices: readonly string[]) {}

  begin(blocks: readonly Block[]): InFlight {
    const w = this.devices.length;
    const gpus = this.devices.map((d) => cudaDevice(d));
    const received: CudaStorage[][] = blocks.map(() => []);
    try {
      blocks.forEach((block, rank) => {
        const next = (rank + 1) % w;
        for (const s of block) received[next].push(CudaStorage.allocate(gpus[next], s.dtype, s.length));
      });
      blocks.forEach((block, rank) => {
        const next = (rank + 1) % w;
        const [from, to] = [gpus[rank], gpus[next]];
        const stream = cudaRingRuntime.transferStream(this.devices[next]) as bigint as CUstream;
        if (from !== to) orderAcross(to, stream, from, from.stream);
        block.forEach((s, i) => copyWhole(received[next][i], cudaStorageOf(s, 'ring block'), stream));
      });
    } catch (error) {
      // Copies already enqueued on a transfer stream write these buffers, which are freed in compute-stream order:
      // each compute stream waits for its transfers first. A release failing too does not hide this error.
      releaseAfterError([
        ...this.devices.map((device) => () => cudaRingRuntime.waitForTransfers(device)),
        ...disposals(received.flat()),
      ]);
      throw error;
    }
    return {
      finish: (): Storage[][] => {
        blocks.forEach((_, rank) => {
          const next = (rank + 1) % w;
          cudaRingRuntime.waitForTransfers(this.devices[next]);
          if (gpus[rank] !== gpus[next]) orderAcross(gpus[rank], gpus[rank].stream, gpus[next], gpus[next].transferStream);
        });
        return received;
      },
    };
  }

  dispose(): void {
    // Nothing is held between steps.
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * NCCL transports by device list, created on first use: communicator set-up costs far more than a ring
 * step, so it is paid once per process. The communicators live until the process ends.
 */
const ncclTransports = new Map<string, NcclTransport>();

/** A view of a shared transport whose dispose leaves the shared one alone. */
function borrowed(t: RingTransport): RingTransport {
  return {
    devices: t.devices,
    begin: (blocks) => t.begin(blocks),
    dispose: () => undefined,
    [Symbol.dispose]: () => undefined,
  };
}

/**
 * `FLASH_ATTN_RING_TRANSPORT`: 'copy' passes blocks between distinct GPUs by device copies even where NCCL would
 * (to compare the two); 'nccl' or unset uses NCCL where libnccl loads and the ring's GPUs are distinct.
 */
export function ncclWanted(setting: string | undefined): boolean {
  if (setting === undefined || setting === '' || setting === 'nccl') return true;
  if (setting === 'copy') return false;
  throw new OptionError(
    `FLASH_ATTN_RING_TRANSPORT: expected 'copy' (device copies between the GPUs) or 'nccl' (the default: NCCL where it loads), got ${describe(setting)}`,
  );
}

/** The transport for a ring over `devices` (cuda devices of this process; ranks may repeat a device). */
export function createCudaTransport(devices: readonly string[]): RingTransport {
  const wanted = ncclWanted(process.env.FLASH_ATTN_RING_TRANSPORT);
  const distinct = new Set(devices).size === devices.length;
  const useNccl = wanted && devices.length > 1 && distinct && ncclAvailable();
  if (!useNccl) return new LocalCudaTransport(devices);
  const key = devices.join(',');
  let shared = ncclTransports.get(key);
  if (!shared) {
    // commInitAll creates a communicator on each listed device; the runtime must know the devices first.
    for (const d of devices) cudaDevice(d);
    shared = NcclTransport.local(devices, devices.map((d) => parseDevice(d).index), cudaRingRuntime);
    ncclTransports.set(key, shared);
  }
  return borrowed(shared);
}
