/**
 * Forward and backward on one GPU: allocate outputs from the pool, enqueue the kernels on the device's
 * stream and return without waiting. Reading a result waits.
 */
import type { AttentionProblem, BackwardResult, ForwardResult } from '../../backend.js';
import { DeviceError, describe } from '../../errors.js';
import { disposeOnThrow, thenRelease } from '../../release.js';
import type { Storage } from '../../storage.js';
import type { FlashParams } from './abi.js';
import { launchBackward, planBackward } from './backward.js';
import type { CUdeviceptr } from './driver.js';
import { launchForward } from './forward.js';
import { type CudaDevice, cudaDevice } from './runtime.js';
import { CudaStorage } from './storage.js';

/** float32 -Infinity, the lse of a row with no allowed key. */
const NEGATIVE_INFINITY_BITS = 0xff800000;

export function cudaStorage(storage: Storage, name: string): CudaStorage {
  if (!(storage instanceof CudaStorage)) {
    throw new DeviceError(`${name}: expected cuda storage, got storage on ${describe(storage.device)}`);
  }
  return storage;
}

/** The struct every kernel receives; pointers the phase does not use stay 0. */
function flashParams(p: AttentionProblem, pointers: Partial<Record<'q' | 'k' | 'v' | 'o' | 'lse' | 'dout' | 'dq' | 'dk' | 'dv' | 'dq_accum' | 'softmax_d', CudaStorage>>): FlashParams {
  const address = (s: CudaStorage | undefined): bigint => (s ? s.pointer : 0n);
  return {
    q: address(pointers.q),
    k: address(pointers.k),
    v: address(pointers.v),
    o: address(pointers.o),
    lse: address(pointers.lse),
    dout: address(pointers.dout),
    dq: address(pointers.dq),
    dk: address(pointers.dk),
    dv: address(pointers.dv),
    dq_accum: address(pointers.dq_accum),
    softmax_d: address(pointers.softmax_d),
    tile_counter: 0n,  // the Hopper forward's, filled in where it launches (forward.ts)
    n: p.n,
    lq: p.lq,
    lk: p.lk,
    h: p.h,
    hk: p.hk,
    d: p.d,
    window_left: p.windowLeft,
    window_right: p.windowRight,
    diagonal_offset: p.diagonalOffset,
    out_float32: p.outDtype === 'float32' ? 1 : 0,
    softmax_scale: p.softmaxScale,
    softmax_scale_log2: p.softmaxScale * Math.LOG2E,
    dq_done: 0n,  // the Hopper backward's item counters, filled in where it launches (backward.ts)
    dq_done_whole: 0,
    ready_rows: 0,  // bwd_pre_side's rows per ready flag, filled in where it launches (backward.ts)
    pace_grid: 0,  // the main kernel's grid beside a paced bwd_pre_side, and its keys per item (backward.ts)
    pace_key_rows: 0,
  };
}

/**
 * Runs `body` with storages allocated on the way; on a throw, disposes every one of them (a free that fails too
 * only warns) so nothing leaks and the body's error is the one reported.
 */
function allocating<T>(body: (allocate: (dtype: CudaStorage['dtype'], length: number) => CudaStorage) => T, device: CudaDevice): T {
  return disposeOnThrow((keep) => body((dtype, length) => keep(CudaStorage.allocate(device, dtype, length))));
}

export function cudaForward(p: AttentionProblem, qs: Storage, ks: Storage, vs: Storage): ForwardResult {
  const device = cudaDevice(p.device);
  const [q, k, v] = [cudaStorage(qs, 'q'), cudaStorage(ks, 'k'), cudaStorage(vs, 'v')];
  return allocating((allocate) => {
    const out = allocate(p.outDtype, p.n * p.lq * p.h * p.d);
    const lse = allocate('float32', p.n * p.h * p.lq);
    if (p.lq === 0) return { out, lse };
    if (p.lk === 0) {
      device.fillBytes(out.pointer, 0, out.byteLength);
      device.fillWords(lse.pointer, NEGATIVE_INFINITY_BITS, lse.length);
      return { out, lse };
    }
    launchForward(device, p, flashParams(p, { q, k, v, o: out, lse }));
    return { out, lse };
  }, device);
}

export function cudaBackward(
  p: AttentionProblem,
  douts: Storage,
  qs: Storage,
  ks: Storage,
  vs: Storage,
  outs: Storage,
  lses: Storage,
): BackwardResult {
  const device = cudaDevice(p.device);
  const [dout, q, k, v, out, lse] = [
    cudaStorage(douts, 'dout'),
    cudaStorage(qs, 'q'),
    cudaStorage(ks, 'k'),
    cudaStorage(vs, 'v'),
    cudaStorage(outs, 'out'),
    cudaStorage(lses, 'lse'),
  ];
  return allocating((allocate) => {
    const dq = allocate(p.outDtype, p.n * p.lq * p.h * p.d);
    const dk = allocate(p.outDtype, p.n * p.lk * p.hk * p.d);
    const dv = allocate(p.outDtype, p.n * p.lk * p.hk * p.d);
    if (p.lq === 0 || p.lk === 0) {
      // No query or no key: every gradient that exists is zero.
      for (const g of [dq, dk, dv]) device.fillBytes(g.pointer, 0, g.byteLength);
      return { dq, dk, dv };
    }
    // Workspaces live for this call only: freed in stream order right after the launches that use them.
    // softmax_d holds D, written by bwd_pre (or by a Hopper bwd_dq_det marked computesD, which then runs first);
    // its plan.counterWords words more at its end are the counters a Hopper backward may count its items on and the
    // ready flags of bwd_pre_side where it runs (backward.ts, kernels/common/params.h's dq_done and ready_rows).
    // dq_accum, which bwd_pre zeroes and bwd adds into from every key block, is allocated only where some kernel of
    // the plan touches it (planBackward: not in a deterministic Hopper backward).
    const plan = planBackward(device, p, {
      q: q.pointer, k: k.pointer, v: v.pointer, dout: dout.pointer, dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, o: out.pointer,
    });
    const softmaxD = CudaStorage.allocate(device, 'float32', p.n * p.h * p.lq + plan.counterWords);
    let dqAccum: CudaStorage | undefined;
    thenRelease(
      () => {
        if (plan.usesAccum) dqAccum = CudaStorage.allocate(device, 'float32', p.n * p.lq * p.h * p.d);
        const params = flashParams(p, { q, k, v, o: out, lse, dout, dq, dk, dv, dq_accum: dqAccum, softmax_d: softmaxD });
        launchBackward(device, p, plan, params, (softmaxD.pointer + BigInt(4 * p.n * p.h * p.lq)) as CUdeviceptr);
      },
      () => [() => softmaxD.dispose(), () => dqAccum?.dispose()],
    );
    return { dq, dk, dv };
  }, device);
}
