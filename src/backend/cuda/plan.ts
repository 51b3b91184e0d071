/**
 * explain() on CUDA: the kernels a call would launch on its device, chosen by the same functions the launches
 * use (forward.ts, backward.ts), without launching or allocating anything.
 */
import type { AttentionProblem, KernelPlan } from '../../backend.js';
import { SizeLimitError } from '../../errors.js';
import type { Storage } from '../../storage.js';
import { cudaStorage } from './attention.js';
import { backwardEntries, backwardPath } from './backward.js';
import { MAX_BATCH_PER_LAUNCH, batchChunks, chunkProblem } from './batch-chunks.js';
import type { BackwardPath } from './backward-path.js';
import { forwardPath } from './forward.js';
import type { ForwardPath } from './forward-path.js';
import { sm80Entry } from './modules.js';
import { cudaDevice } from './runtime.js';
import { type KernelEntry, kernelLabel, launchGrid } from './table.js';

export function cudaPlan(call: AttentionProblem, q: Storage, k: Storage, v: Storage): KernelPlan {
  if (call.lq === 0 || call.lk === 0) {
    return { forward: [], backward: [], reason: 'lq or lk is 0: the outputs are filled without a kernel' };
  }
  const device = cudaDevice(call.device);
  // A batch beyond one launch runs in chunks (batch-chunks.ts); the first, the largest, stands for them all.
  const chunks = batchChunks(call.n);
  const p = chunkProblem(call, chunks[0]);
  // Outputs are allocated by the calls themselves, from the pool (256-byte aligned), and explain() has no dout:
  // only the inputs' addresses can decide.
  const pointers = { q: cudaStorage(q, 'q').pointer, k: cudaStorage(k, 'k').pointer, v: cudaStorage(v, 'v').pointer };
  const forward = forwardPath(device, p, pointers);
  const backward = backwardPath(device, p, pointers);
  const forwardEntry = forward.arch === 'sm_90a' ? forward.entry : sm80Entry(device, 'fwd', p);
  const backwardKernels = backwardEntries(device, p, backward);
  // The launches' own limits (gridDim.y at 65535 heads, 32-bit tile numbers): a forward they refuse is refused here
  // too, with the same SizeLimitError; a backward they refuse (its row passes have a block row per head, where the
  // persistent Hopper forward has none) is named as refused, since flashMha itself would run.
  launchGrid(forwardEntry, p, device.multiprocessorCount);
  const refusal = backwardRefusal(backwardKernels, p, device.multiprocessorCount);
  const chunked = chunks.length > 1 ? `; n = ${call.n} runs as ${chunks.length} launches of each kernel, of at most ${MAX_BATCH_PER_LAUNCH} batch entries` : '';
  return {
    forward: [kernelLabel(forwardEntry)],
    backward: refusal === undefined ? backwardKernels.map(kernelLabel) : [],
    reason: `${planReason(forward, backward)}${chunked}${refusal === undefined ? '' : `; the backward would be refused: ${refusal}`}`,
  };
}

/** The SizeLimitError's message with which the backward's launches would refuse this call, if they would. */
function backwardRefusal(entries: readonly KernelEntry[], p: AttentionProblem, multiprocessorCount: number): string | undefined {
  try {
    for (const entry of entries) launchGrid(entry, p, multiprocessorCount);
  } catch (error) {
    if (error instanceof SizeLimitError) return error.message;
    throw error;
  }
  return undefined;
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
