/**
 * Which main kernel the backward runs between bwd_pre and bwd_dq (or bwd_dq_det): the Hopper backward (sm_90a)
 * where every condition of hopper-path.ts holds, else the sm_80 bwd. Both read softmax_d from bwd_pre, add dq
 * into dq_accum (which bwd_dq reads; the Hopper bwd through a float32 tensor map) and write dk and dv without
 * atomics (so deterministic mode keeps them).
 */
import type { Bwd90Map } from './abi.js';
import { type HopperKernelSpec, type HopperPath, type HopperPathInputs, chooseHopperKernel } from './hopper-path.js';

/**
 * A block of the Hopper backward owns keyTileRows key rows (the box of k and v) and steps over the queries
 * queryTileRows at a time (the box of q and dout); it adds dQ into the float32 dq_accum workspace with TMA
 * reductions of dqBoxRows rows (one warp's rows of a dQ block) x 32 columns.
 * It stores dk and dv; dq, which bwd_dq stores, is held to the same alignment.
 */
const HOPPER_BACKWARD: HopperKernelSpec<Bwd90Map, 'dq' | 'dk' | 'dv'> = {
  phase: 'bwd',
  pass: 'backward',
  mapped: {
    q: { rows: 'lq', boxRows: 'queryTileRows' },
    k: { rows: 'lk', boxRows: 'keyTileRows' },
    v: { rows: 'lk', boxRows: 'keyTileRows' },
    dout: { rows: 'lq', boxRows: 'queryTileRows' },
    dq_accum: { rows: 'lq', boxRows: 'dqBoxRows', elementBytes: 4 },
  },
  stored: ['dq', 'dk', 'dv'],
  storeAlignment: 16,  // dk, dv in 16-byte chunks (16-bit: kernels/sm90/epilogue.cuh, and d = 256 in 8) or float32 fours
};

export interface BackwardPathInputs extends HopperPathInputs<Bwd90Map, 'dq' | 'dk' | 'dv'> {
  /** dout is left out in explain(), which has none; dq, dk, dv and the dq_accum workspace where they are not allocated yet. */
  pointers: { q: bigint; k: bigint; v: bigint; dout?: bigint; dq?: bigint; dk?: bigint; dv?: bigint; dq_accum?: bigint };
}

export type BackwardPath = HopperPath<Bwd90Map>;

export function chooseBackward(inputs: BackwardPathInputs): BackwardPath {
  return chooseHopperKernel(HOPPER_BACKWARD, inputs);
}
