/**
 * Kernels for the fake driver (cuda-fake-driver.ts), emulated with the float64 reference: they read the
 * FlashParams bytes a launch received (at `paramsOffset`: 0 for the sm_80 kernels, FwdArgs' or BwdArgs' p for
 * the Hopper forward and backward) and read and write the fake device memory as the real kernels would.
 */
import assert from 'node:assert/strict';
import { FLASH_PARAMS_FIELDS, FLASH_PARAMS_OFFSETS, type FlashParamsField } from '../../src/backend/cuda/abi.js';
import { type Dtype, decodeArray, encodeArray } from '../../src/dtype.js';
import { type Mask, referenceBackward, referenceForward } from '../support/reference.js';
import type { Tensor } from '../../src/tensor.js';
import type { FakeKernel, FakeMemory } from './cuda-fake-driver.js';

export type Phase = 'fwd' | 'bwd_pre' | 'bwd_pre_side' | 'bwd' | 'bwd_dq' | 'bwd_dq_det';

export type Params = { [F in FlashParamsField]: F extends 'q' | 'k' | 'v' | 'o' | 'lse' | 'dout' | 'dq' | 'dk' | 'dv' | 'dq_accum' | 'softmax_d' | 'tile_counter' | 'dq_done' ? bigint : number };

export function decodeParams(view: DataView, paramsOffset = 0): Params {
  const out: Record<string, bigint | number> = {};
  for (const [name, type] of FLASH_PARAMS_FIELDS) {
    const offset = paramsOffset + FLASH_PARAMS_OFFSETS[name];
    out[name] = type === 'uint64' ? view.getBigUint64(offset, true) : type === 'int32' ? view.getInt32(offset, true) : view.getFloat32(offset, true);
  }
  return out as Params;
}

export const maskOf = (p: Params): Mask => ({
  n: p.n,
  lq: p.lq,
  lk: p.lk,
  h: p.h,
  hk: p.hk,
  d: p.d,
  softmaxScale: p.softmax_scale,
  windowLeft: p.window_left,
  windowRight: p.window_right,
  diagonalOffset: p.diagonal_offset,
});

export function readTensor(memory: FakeMemory, address: bigint, count: number, dtype: Dtype): Float32Array {
  const bytes = memory.view(address, count * (dtype === 'float32' ? 4 : 2)).slice();
  return decodeArray(dtype === 'float32' ? new Float32Array(bytes.buffer) : new Uint16Array(bytes.buffer), dtype);
}

export function writeTensor(memory: FakeMemory, address: bigint, values: ArrayLike<number>, dtype: Dtype): void {
  const encoded = encodeArray(values, dtype);
  memory.view(address, encoded.byteLength).set(new Uint8Array(encoded.buffer));
}

/** uint32 words of fake device memory, read or written in place. */
function words(memory: FakeMemory, address: bigint, count: number): Uint32Array {
  const bytes = memory.view(address, 4 * count);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, count);
}

/** dq_done's n * hk counters (params.h), and after them bwd_pre_side's ready flags where ready_rows is set. */
function counterWords(p: Params): { counters: number; flags: number } {
  return { counters: p.n * p.hk, flags: p.ready_rows === 0 ? 0 : p.n * p.h * Math.ceil(p.lq / p.ready_rows) };
}

/**
 * `computesD`: a bwd_dq_det that writes softmax_d itself (the manifest's computesD), as bwd_pre does. Both write zeros
 * there (the reference needs no D), and bwd refuses a softmax_d holding NaN (a fake driver's allocationFill 0xff): what
 * runs bwd before either has written it fails. Given dq_done, bwd_pre zeroes its counters, as the real one does, and
 * bwd refuses counters that do not read 0; given ready_rows, bwd refuses flags bwd_pre_side has not set (the real
 * kernel would wait on them forever), and bwd_pre_side refuses counters or flags not zeroed before it (by the host).
 */
export function emulated(phase: Phase, dtype: Dtype, paramsOffset = 0, { computesD = false } = {}): FakeKernel {
  return (view, memory) => {
    const p = decodeParams(view, paramsOffset);
    const outDtype: Dtype = p.out_float32 ? 'float32' : dtype;
    const qCount = p.n * p.lq * p.h * p.d;
    const kCount = p.n * p.lk * p.hk * p.d;
    const q = readTensor(memory, p.q, qCount, dtype);
    const k = readTensor(memory, p.k, kCount, dtype);
    const v = readTensor(memory, p.v, kCount, dtype);
    if (phase === 'fwd') {
      const ref = referenceForward(maskOf(p), q, k, v);
      writeTensor(memory, p.o, ref.o, outDtype);
      writeTensor(memory, p.lse, ref.lse, 'float32');
    } else if (phase === 'bwd_pre' || phase === 'bwd_pre_side') {
      const { counters, flags } = counterWords(p);
      if (phase === 'bwd_pre' && p.dq_done !== 0n) words(memory, p.dq_done, counters).fill(0);
      if (phase === 'bwd_pre_side') {
        if (p.ready_rows === 0 || p.dq_done === 0n) throw new Error('fake bwd_pre_side: launched without ready flags');
        if (words(memory, p.dq_done, counters + flags).some((w) => w !== 0)) {
          throw new Error('fake bwd_pre_side: counters or ready flags not zeroed before it');
        }
        words(memory, p.dq_done + BigInt(4 * counters), flags).fill(1);
      }
      writeTensor(memory, p.softmax_d, new Float32Array(p.n * p.h * p.lq), 'float32');
      // As kernels/sm80/rows.cuh does: zeroes dq_accum where it is given one (the deterministic backward, where
      // nothing reads it, gives none to a build whose bwd_pre is marked accumOptional).
      if (p.dq_accum !== 0n) writeTensor(memory, p.dq_accum, new Float32Array(qCount), 'float32');
    } else if (phase === 'bwd') {
      if (readTensor(memory, p.softmax_d, p.n * p.h * p.lq, 'float32').some(Number.isNaN)) {
        throw new Error('fake bwd: softmax_d read before bwd_pre or a computesD bwd_dq_det wrote it');
      }
      const { counters, flags } = counterWords(p);
      if (p.dq_done !== 0n && words(memory, p.dq_done, counters).some((w) => w !== 0)) {
        throw new Error('fake bwd: item counters not zeroed before it');
      }
      if (flags > 0 && words(memory, p.dq_done + BigInt(4 * counters), flags).some((w) => w !== 1)) {
        throw new Error('fake bwd: a ready flag bwd_pre_side has not set');
      }
      const dout = readTensor(memory, p.dout, qCount, dtype);
      const g = referenceBackward(maskOf(p), q, k, v, dout);
      writeTensor(memory, p.dk, g.dk, outDtype);
      writeTensor(memory, p.dv, g.dv, outDtype);
      // Adds into the accumulator, as the real kernels do (with atomics): the sm_80 bwd in either mode, the Hopper
      // bwd unless the deterministic backward passed it no dq_accum.
      if (p.dq_accum !== 0n) {
        const accum = readTensor(memory, p.dq_accum, qCount, 'float32');
        writeTensor(memory, p.dq_accum, accum.map((x, i) => x + g.dq[i]), 'float32');
      }
    } else if (phase === 'bwd_dq') {
      writeTensor(memory, p.dq, readTensor(memory, p.dq_accum, qCount, 'float32'), outDtype);
    } else {
      // bwd_dq_det: dq straight from q, k, v, dout (the real kernel recomputes S and dP), never dq_accum.
      if (computesD) writeTensor(memory, p.softmax_d, new Float32Array(p.n * p.h * p.lq), 'float32');
      const dout = readTensor(memory, p.dout, qCount, dtype);
      writeTensor(memory, p.dq, referenceBackward(maskOf(p), q, k, v, dout).dq, outDtype);
    }
  };
}

/**
 * Asserts that a forward's o (rounded once to its dtype) and, when given, lse are exactly the float64 reference's on
 * the same inputs under `mask`, as the emulated kernels make them.
 */
export async function assertReferenceForward(mask: Mask, inputs: { q: Tensor; k: Tensor; v: Tensor }, out: Tensor, lse?: Tensor): Promise<void> {
  const { q, k, v } = inputs;
  const ref = referenceForward(mask, await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array());
  assert.deepEqual(await out.data(), encodeArray(ref.o, out.dtype));
  if (lse) assert.deepEqual(await lse.toFloat32Array(), Float32Array.from(ref.lse));
}
