/**
 * Which forward runs: the Hopper forward (sm_90a) where every condition of hopper-path.ts holds, else the sm_80
 * forward. Both compute the same o and lse (same definition of lse, which the backward reads).
 */
import type { Fwd90Map } from './abi.js';
import { type HopperKernelSpec, type HopperPath, type HopperPathInputs, chooseHopperKernel } from './hopper-path.js';

/** The Hopper forward reads q (box: tileRows query rows) and k, v (keyTileRows) through maps; it stores o. */
const HOPPER_FORWARD: HopperKernelSpec<Fwd90Map, 'o'> = {
  phase: 'fwd',
  pass: 'forward',
  mapped: {
    q: { rows: 'lq', boxRows: 'tileRows' },
    k: { rows: 'lk', boxRows: 'keyTileRows' },
    v: { rows: 'lk', boxRows: 'keyTileRows' },
  },
  stored: ['o'],
  storeAlignment: 16,  // o in 16-byte chunks (16-bit: epilogue.cuh, or fwd.cuh's quad stores) or pairs of 8 (float32)
};

export interface ForwardPathInputs extends HopperPathInputs<Fwd90Map, 'o'> {
  /** `o` is left out where it is not allocated yet (explain). */
  pointers: { q: bigint; k: bigint; v: bigint; o?: bigint };
}

export type ForwardPath = HopperPath<Fwd90Map>;

export function chooseForward(inputs: ForwardPathInputs): ForwardPath {
  return chooseHopperKernel(HOPPER_FORWARD, inputs);
}
