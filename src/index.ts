import { registerBackend } from './backend.js';
import { cpuBackend } from './backend/cpu/index.js';
import { cudaBackend } from './backend/cuda/index.js';

registerBackend(cpuBackend);
registerBackend(cudaBackend);

export { Tensor, tensor, randn, zeros } from './tensor.js';
export type { TensorOptions, RandomOptions } from './tensor.js';
export type { Dtype } from './dtype.js';
export { float16Bits, bfloat16Bits, float16ToNumber, bfloat16ToNumber } from './dtype.js';
export { flashMha, flashMhaFwd, flashMhaBwd, flashMhaVjp } from './attention.js';
export type { ForwardOutputs, Gradients, VjpFunction, ShardedVjpFunction } from './attention.js';
export { explain } from './explain.js';
export type { KernelExplanation } from './explain.js';
export {
  ShardedTensor,
  shardSequence,
  gatherSequence,
  gatherSequenceAsync,
  fromLocalShards,
  initDistributed,
  joinRing,
  RingGroup,
  ringFlashMhaFwdAsync,
  ringFlashMhaBwdAsync,
  NcclError,
  DistributedError,
} from './ring/index.js';
export type {
  ShardOptions,
  SequenceLayout,
  ShardedForwardOutputs,
  ShardedGradients,
  DistributedOptions,
  DistributedContext,
  JoinRingOptions,
} from './ring/index.js';
export type { AttentionOptions } from './params.js';
export { devices } from './devices.js';
export { setCpuDeviceCount } from './device.js';
export {
  FlashAttentionError,
  ShapeError,
  DtypeError,
  DeviceError,
  OptionError,
  DisposedError,
  SizeLimitError,
  BackendUnavailableError,
} from './errors.js';
export { CudaError } from './backend/cuda/errors.js';
