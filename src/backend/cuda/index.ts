import type { Backend } from '../../backend.js';
import type { Dtype, HostArray } from '../../dtype.js';
import { cudaBackward, cudaForward } from './attention.js';
import type { CUdeviceptr } from './driver.js';
import { kernelProblem } from './kernel-problem.js';
import { cudaPlan } from './plan.js';
import { cudaDevice, cudaRuntime } from './runtime.js';
import { CudaStorage } from './storage.js';

/** NVIDIA GPUs through the driver API; kernels prebuilt into kernels/build. */
export const cudaBackend: Backend = {
  kind: 'cuda',
  // The kernels compute offsets in 64 bits; the limit is what a JS number counts exactly.
  maxElements: Number.MAX_SAFE_INTEGER,
  deviceCount: () => cudaRuntime().deviceCount(),
  deviceRefusal: (ordinal: number) => cudaRuntime().refusal(ordinal),
  supportsDtype: (dtype: Dtype) => dtype === 'float16' || dtype === 'bfloat16',
  upload: (data: HostArray, dtype: Dtype, device: string) => CudaStorage.upload(cudaDevice(device), data, dtype),
  forward: (p, q, k, v) => cudaForward(kernelProblem(p), q, k, v),
  backward: (p, dout, q, k, v, out, lse) => cudaBackward(kernelProblem(p), dout, q, k, v, out, lse),
  plan: (p, q, k, v) => cudaPlan(kernelProblem(p), q, k, v),
  wrap: (pointer: bigint, dtype: Dtype, length: number, device: string) =>
    CudaStorage.wrap(cudaDevice(device), pointer as CUdeviceptr, dtype, length),
};

export { CudaError } from './errors.js';
