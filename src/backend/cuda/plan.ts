/**
 * explain() on CUDA: the kernels a call would launch on its device, chosen by the same functions the launches
 * use (forward.ts, table.ts), without launching or allocating anything.
 */
import type { AttentionProblem, KernelPlan } from '../../backend.js';
import type { Storage } from '../../storage.js';
import { cudaStorage } from './attention.js';
import { forwardPath } from './forward.js';
import { cudaDevice } from './runtime.js';
import { type KernelDtype, type Phase, backwardPhases, kernelLabel, kernelManifest, selectKernel } from './table.js';

export function cudaPlan(p: AttentionProblem, q: Storage, k: Storage, v: Storage): KernelPlan {
  if (p.lq === 0 || p.lk === 0) {
    return { forward: [], backward: [], reason: 'lq or lk is 0: the outputs are filled without a kernel' };
  }
  const device = cudaDevice(p.device);
  const sm80 = (phase: Phase) =>
    kernelLabel(selectKernel(kernelManifest().kernels, phase, p.dtype as KernelDtype, p.d, device.sharedMemoryPerBlockOptin));
  // o is allocated by the call itself, from the pool (256-byte aligned): only the inputs' addresses can decide.
  const pointers = { q: cudaStorage(q, 'q').pointer, k: cudaStorage(k, 'k').pointer, v: cudaStorage(v, 'v').pointer };
  const path = forwardPath(device, p, pointers);
  return {
    forward: [path.arch === 'sm_90a' ? kernelLabel(path.entry) : sm80('fwd')],
    backward: backwardPhases(p).map(sm80),
    reason:
      path.arch === 'sm_90a'
        ? `compute capability 9.0: the Hopper forward (sm_90a) applies; the backward runs the sm_80 kernels`
        : `the sm_80 forward: ${path.reason}`,
  };
}
