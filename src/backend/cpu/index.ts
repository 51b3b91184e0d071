import type { AttentionProblem, Backend, BackwardResult, ForwardResult } from '../../backend.js';
import { getCpuDeviceCount } from '../../device.js';
import type { Dtype, HostArray } from '../../dtype.js';
import { HostStorage, type Storage } from '../../storage.js';
import { cpuBackward } from './backward.js';
import { cpuForward } from './forward.js';

/** The readable reference backend: tiled FlashAttention-2 in plain TypeScript, all three dtypes. */
export const cpuBackend: Backend = {
  kind: 'cpu',
  // Typed arrays index with integers below 2^32 and V8 caps them lower; stay within safe indexing.
  maxElements: 2 ** 31 - 1,
  deviceCount: () => getCpuDeviceCount(),
  supportsDtype: (_dtype: Dtype) => true,
  // The caller hands over `data`; it is not copied again.
  upload: (data: HostArray, dtype: Dtype, device: string): Storage => new HostStorage(device, dtype, data),
  forward: (p: AttentionProblem, q: Storage, k: Storage, v: Storage): ForwardResult => cpuForward(p, q, k, v),
  backward: (p, dout, q, k, v, out, lse): BackwardResult => cpuBackward(p, dout, q, k, v, out, lse),
  plan: () => ({
    forward: ['cpu: tiled forward in TypeScript (src/backend/cpu/forward.ts)'],
    backward: ['cpu: tiled backward in TypeScript (src/backend/cpu/backward.ts)'],
    reason: 'the CPU backend runs TypeScript on the host; no GPU kernel is involved',
  }),
};
