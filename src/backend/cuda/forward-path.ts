/**
 * Which forward runs: the Hopper forward (sm_90a) where every condition of hopper-path.ts holds, else the sm_80
 * forward. Both compute the same o and lse (same definition of lse, which the backward reads).
 */
import type { AttentionProblem } from '../../backend.js';
import type { Fwd90Map } from './abi.js';
import { type HopperKernelSpec, type HopperPath, type HopperPathInputs, chooseHopperKernel } from './hopper-path.js';
import type { TmaElementBytes } from './tma.js';

/**
 * The Hopper forward reads q (box: tileRows query rows) and k, v (keyTileRows) through maps, and stores 16-bit o
 * through its map (boxes of outBoxRows rows). Float32 o (ring attention's partial results) is stored by the warps;
 * its map, over float32 data, is encoded all the same: the kernel's parameter always has four maps.
 */
function hopperForward(outElementBytes: TmaElementBytes): HopperKernelSpec<Fwd90Map, 'o'> {
  return {
    phase: 'fwd',
    pass: 'forward',
    mapped: {
      q: { rows: 'lq', boxRows: 'tileRows' },
      k: { rows: 'lk', boxRows: 'keyTileRows' },
      v: { rows: 'lk', boxRows: 'keyTileRows' },
      o: { rows: 'lq', boxRows: 'outBoxRows', elementBytes: outElementBytes },
    },
    stored: ['o'],
    storeAlignment: 16, // o in 16-byte chunks (16-bit: TMA, or fwd.cuh's quad stores) or pairs of 8 (float32)
  };
}
const HOPPER_FORWARD_16BIT_OUT = hopperForward(2);
const HOPPER_FORWARD_FLOAT32_OUT = hopperForward(4);

export interface ForwardPathInputs extends HopperPathInputs<Fwd90Map, 'o'> {
  problem: HopperPathInputs<Fwd90Map, 'o'>['problem'] & Pick<AttentionProblem, 'outDtype'>;
  /** `o` is left out where it is not allocated yet (explain). */
  pointers: { q: bigint; k: bigint; v: bigint; o?: bigint };
}

export type ForwardPath = HopperPath<Fwd90Map>;

export function chooseForward(inputs: ForwardPathInputs): ForwardPath {
  return chooseHopperKernel(inputs.problem.outDtype === 'float32' ? HOPPER_FORWARD_FLOAT32_OUT : HOPPER_FORWARD_16BIT_OUT, inputs);
}
