/**
 * The forward's launch on one device: the Hopper kernel (sm_90a, reading q, k, v and storing o through tensor maps) where
 * forward-path.ts allows it, else the sm_80 kernel. Both write the same o and lse.
 */
import type { AttentionProblem } from '../../backend.js';
import { type FlashParams, packFlashParams, packFwd90Args } from './abi.js';
import { type ForwardPath, chooseForward } from './forward-path.js';
import { hopperDeviceFacts, launchKernel, resolveEntry, resolveKernel } from './modules.js';
import type { CudaDevice } from './runtime.js';
import { nextTileCounter } from './tile-counter.js';

/** The forward path of this call on this device; `o` is left out where it is not allocated yet (explain). */
export function forwardPath(device: CudaDevice, p: AttentionProblem, pointers: { q: bigint; k: bigint; v: bigint; o?: bigint }): ForwardPath {
  return chooseForward({ ...hopperDeviceFacts(device), problem: p, pointers });
}

/** Enqueues the forward of `params` (addresses of q, k, v, o, lse filled in; lq, lk > 0). */
export function launchForward(device: CudaDevice, p: AttentionProblem, params: FlashParams): void {
  const path = forwardPath(device, p, { q: params.q, k: params.k, v: params.v, o: params.o });
  if (path.arch === 'sm_80') {
    launchKernel(device, resolveKernel(device, 'fwd', p), packFlashParams(params));
    return;
  }
  const maps = device.encodeTensorMaps(path.maps, { q: params.q, k: params.k, v: params.v, o: params.o });
  // The persistent kernel's blocks claim tiles from a counter.
  launchKernel(device, resolveEntry(device, path.entry, p), packFwd90Args(maps, { ...params, tile_counter: nextTileCounter(device) }));
}
