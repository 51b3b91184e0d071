/**
 * What ring attention's NCCL transport needs from the CUDA runtime (src/ring/nccl-transport.ts): device
 * pointers, buffers, and a transfer stream per device ordered against the compute stream by events.
 */
import type { DevicePointer, StreamHandle } from '../../ring/nccl.js';
import type { CudaRingRuntime } from '../../ring/nccl-transport.js';
import type { Storage } from '../../storage.js';
import { DeviceError, describe } from '../../errors.js';
import { cudaDevice } from './runtime.js';
import { CudaStorage } from './storage.js';

function cudaStorage(s: Storage): CudaStorage {
  if (!(s instanceof CudaStorage)) throw new DeviceError(`ring: expected cuda storage, got storage on ${describe(s.device)}`);
  return s;
}

export const cudaRingRuntime: CudaRingRuntime = {
  pointerOf: (s) => cudaStorage(s).pointer as bigint as DevicePointer,
  allocateLike: (s, device) => CudaStorage.allocate(cudaDevice(device), s.dtype, s.length),
  // Transfers read what the compute stream wrote and fill buffers it allocated: they wait for it first.
  transferStream: (device) => {
    const gpu = cudaDevice(device);
    gpu.order(gpu.transferStream, gpu.stream);
    return gpu.transferStream as bigint as StreamHandle;
  },
  waitForTransfers: (device) => {
    const gpu = cudaDevice(device);
    gpu.order(gpu.stream, gpu.transferStream);
  },
};
