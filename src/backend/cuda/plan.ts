/**
 * explain() on CUDA: the kernels a call would launch on its device, chosen by the same functions the launches
 * use (forward.ts, backward.ts), without launching or allocating anything.
 */
import type { AttentionProblem, KernelPlan } from '../../backend.js';
import type { Storage } from '../../storage.js';
import { cudaStorage } from './attention.js';
import { backwardEntries, backwardPath } from './backward.js';
import type { BackwardPath } from './backward-path.js';
import { forwardPath } from './forward.js';
import type { ForwardPath } from './forward-path.js';
import { sm80Entry } from './modules.js';
import { cudaDevice } from './runtime.js';
import { kernelLabel, launchGrid } from './table.js';

export function cudaPlan(p: AttentionProblem, q: Storage, k: Storage, v: Storage): KernelPlan {
  if (p.lq === 0 || p.lk === 0) {
    return { forward: [], backward: [], reason: 'lq or lk is 0: the outputs are filled without a kernel' };
  }
  const device = cudaDevice(p.device);
  // Outputs are allocated by the calls themselves, from the pool (256-byte aligned), and explain() has no dout:
  // only the inputs' addresses can decide.
  const pointers = { q: cudaStorage(q, 'q').pointer, k: cudaStorage(k, 'k').pointer, v: cudaStorage(v, 'v').pointer };
  const forward = forwardPath(device, p, pointers);
  const backward = backwardPath(device, p, pointers);
  const forwardEntry = forward.arch === 'sm_90a' ? forward.entry : sm80Entry(device, 'fwd', p);
  const backwardKernels = backwardEntries(device, p, backward);
  // The launches' own limits (gridDim.y and .z, 32-bit tile numbers): a call they refuse is refused here too, with
  // the same SizeLimitError, rather than explained.
  for (const entry of [forwardEntry, ...backwardKernels]) launchGrid(entry, p, device.multiprocessorCount);
  return {
    forward: [kernelLabel(forwardEntry)],
    backward: backwardKernels.map(kernelLabel),
    reason: planReason(forward, backward),
  };
}

/**
 * Why each pass runs its family, e.g. 'compute capability 9.0: the Hopper forward (sm_90a) applies; the sm_80
 * backward: no sm_90a backward is compiled for bfloat16, d = 128' (a build without it); one reason when both
 * fall back for the same one.
 */
export function planReason(forward: ForwardPath, backward: BackwardPath): string {
  if (forward.arch === 'sm_80' && backward.arch === 'sm_80' && forward.reason === backward.reason) {
    return `the sm_80 forward and backward: ${forward.reason}`;
  }
  if (forward.arch === 'sm_90a' && backward.arch === 'sm_90a') {
    return 'compute capability 9.0: the Hopper forward and backward (sm_90a) apply';
  }
  const part = (pass: string, path: ForwardPath | BackwardPath) =>
    path.arch === 'sm_90a' ? `the Hopper ${pass} (sm_90a) applies` : `the sm_80 ${pass}: ${path.reason}`;
  return `compute capability 9.0: ${part('forward', forward)}; ${part('backward', backward)}`;
}
