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
import { batchChunks, batchView, chunkProblem } from './batch-chunks.js';
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
  const [rowsPerEntry, keysPerEntry] = [p.lq * p.h * p.d, p.lk * p.hk * p.d];
  return allocating((allocate) => {
    const out = allocate(p.outDtype, p.n * rowsPerEntry);
    const lse = allocate('float32', p.n * p.h * p.lq);
    for (const chunk of batchChunks(p.n)) {
      const [ofRows, ofKeys] = [(s: CudaStorage) => batchView(s, chunk, rowsPerEntry), (s: CudaStorage) => batchView(s, chunk, keysPerEntry)];
      forwardInto(device, chunkProblem(p, chunk), { q: ofRows(q), k: ofKeys(k), v: ofKeys(v), out: ofRows(out), lse: batchView(lse, chunk, p.h * p.lq) });
    }
    return { out, lse };
  }, device);
}

/** Enqueues one launch's forward (at most MAX_BATCH_PER_LAUNCH batch entries) into `out` and `lse`. */
function forwardInto(device: CudaDevice, p: AttentionProblem, s: Record<'q' | 'k' | 'v' | 'out' | 'lse', CudaStorage>): void {
  if (p.lq === 0) return;
  if (p.lk === 0) {
    device.fillBytes(s.out.pointer, 0, s.out.byteLength);
    device.fillWords(s.lse.pointer, NEGATIVE_INFINITY_BITS, s.lse.length);
    return;
  }
  launchForward(device, p, flashParams(p, { q: s.q, k: s.k, v: s.v, o: s.out, lse: s.lse }));
}

type BackwardStorages = Record<'dout' | 'q' | 'k' | 'v' | 'out' | 'lse' | 'dq' | 'dk' | 'dv', CudaStorage>;

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
  const given = {
    dout: cudaStorage(douts, 'dout'),
    q: cudaStorage(qs, 'q'),
    k: cudaStorage(ks, 'k'),
    v: cudaStorage(vs, 'v'),
    out: cudaStorage(outs, 'out'),
    lse: cudaStorage(lses, 'lse'),
  };
  const [rowsPerEntry, keysPerEntry] = [p.lq * p.h * p.d, p.lk * p.hk * p.d];
  return allocating((allocate) => {
    const dq = allocate(p.outDtype, p.n * rowsPerEntry);
    const dk = allocate(p.outDtype, p.n * keysPerEntry);
    const dv = allocate(p.outDtype, p.n * keysPerEntry);
    const all: BackwardStorages = { ...given, dq, dk, dv };
    const perEntry: Record<keyof BackwardStorages, number> = {
      dout: rowsPerEntry, q: rowsPerEntry, out: rowsPerEntry, dq: rowsPerEntry, k: keysPerEntry, v: keysPerEntry, dk: keysPerEntry, dv: keysPerEntry,
      lse: p.h * p.lq,
    };
    for (const chunk of batchChunks(p.n)) {
      // One chunk (every call up to 65535 entries) takes the storages as they are, without building views.
      const views = chunk.n === p.n ? all : Object.fromEntries(Object.entries(all).map(([name, s]) => [name, batchView(s, chunk, perEntry[name as keyof BackwardStorages])]));
      backwardInto(device, chunkProblem(p, chunk), views as BackwardStorages);
    }
    return { dq, dk, dv };
  }, device);
}

/** Enqueues one launch's backward (at most MAX_BATCH_PER_LAUNCH batch entries) into `s.dq`, `s.dk` and `s.dv`. */
function backwardInto(device: CudaDevice, p: AttentionProblem, s: BackwardStorages): void {
  const { dout, q, k, v, out, lse, dq, dk, dv } = s;
  if (p.lq === 0 || p.lk === 0) {
    // No query or no key: every gradient that exists is zero.
    for (const g of [dq, dk, dv]) device.fillBytes(g.pointer, 0, g.byteLength);
    return;
  }
  // Workspaces live for this launch only: freed in stream order right after the kernels that use them.
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
}
