import type { Storage } from '../storage.js';
import { type RingSteps, runAsync, runSync } from './drive.js';
import { isPairMasked, pairProblem } from './layout.js';
import {
  type RingPlan,
  blockSource,
  countPair,
  keySegments,
  querySegments,
  releaseParts,
  ringRanks,
  segmentParts,
  timed,
} from './schedule.js';

export interface RingBackwardShards {
  dq: Storage[];
  dk: Storage[];
  dv: Storage[];
}

export interface RingBackwardInputs {
  dout: readonly Storage[];
  q: readonly Storage[];
  k: readonly Storage[];
  v: readonly Storage[];
  /** the merged global out and lse of the forward pass, sharded like q */
  out: readonly Storage[];
  lse: readonly Storage[];
}

/**
 * Ring attention backward. With the global out and lse, the gradient splits over key blocks exactly:
 * P = exp(S - lse) needs only the global lse, and D = rowsum(dO ∘ O) only the global out. So at each step
 * rank r runs the backend's backward of its queries against the visiting K/V block: dQ adds up locally,
 * and the block's dK, dV (float32 accumulators travelling with it) collect every rank's share. K/V take
 * W - 1 steps; dK/dV take one more step, which brings them home. All gradients are rounded once at the end.
 *
 * With `deterministic` (carried to every pair by pairProblem) the whole ring backward is bitwise repeatable:
 * each pair's backward is, and the ring's own arithmetic runs in an order fixed by the schedule alone. dQ and
 * each travelling dK/dV block are added to by the loops below in (step, rank, segment) order; addInto is
 * element-wise (one thread per element on CUDA, kernels/ring/ring_ops.cu), as is the final cast; the
 * transports (copies, NCCL send/recv of bytes, TCP) move bits and never add.
 */
export function ringBackward(plan: RingPlan, x: RingBackwardInputs): RingBackwardShards {
  return runSync(ringBackwardSteps(plan, x));
}

/** ringBackward for a ring whose transport delivers asynchronously (several processes over TCP). */
export function ringBackwardAsync(plan: RingPlan, x: RingBackwardInputs): Promise<RingBackwardShards> {
  return runAsync(ringBackwardSteps(plan, x));
}

/** The loop over this process's ranks (index r is local; `ranks[r]` its global rank); see drive.ts. */
function* ringBackwardSteps(plan: RingPlan, x: RingBackwardInputs): RingSteps<RingBackwardShards> {
  const { problem: g, ops, transport, devices, backend, stats } = plan;
  const { ranks, worldSize: w } = ringRanks(plan);
  if (w === 1) {
    // One rank holds the whole sequence in order (both layouts): the plain call, rounded once in the kernel.
    countPair(stats, 0, true);
    const whole = timed(stats, 0, 0, () => backend.backward({ ...g, device: devices[0] }, x.dout[0], x.q[0], x.k[0], x.v[0], x.out[0], x.lse[0]));
    return { dq: [whole.dq], dk: [whole.dk], dv: [whole.dv] };
  }
  const qShape = [g.n, g.lq / w, g.h, g.d];
  const kShape = [g.n, g.lk / w, g.hk, g.d];
  const lseShape = [g.n, g.h, g.lq / w];

  const qSegs = devices.map((_, r) => querySegments(plan, ranks[r]));
  // Key positions by global rank: a visiting block's positions are those of its home rank.
  const kSegMap = new Map<number, ReturnType<typeof keySegments>>();
  const keysOf = (rank: number) => kSegMap.get(rank) ?? kSegMap.set(rank, keySegments(plan, rank)).get(rank)!;
  const kSegs = devices.map((_, r) => keysOf(ranks[r]));
  const local = devices.map((_, r) => ({
    q: segmentParts(ops, x.q[r], qShape, 1, qSegs[r]),
    dout: segmentParts(ops, x.dout[r], qShape, 1, qSegs[r]),
    out: segmentParts(ops, x.out[r], qShape, 1, qSegs[r]),
    lse: segmentParts(ops, x.lse[r], lseShape, 2, qSegs[r]),
  }));
  // dQ of each query segment, float32: the first computed pair's dq itself, added into after that.
  const dqAcc: (Storage | undefined)[][] = devices.map((_, r) => qSegs[r].map(() => undefined));
  let kv: Storage[][] = devices.map((_, r) => [
    ...segmentParts(ops, x.k[r], kShape, 1, kSegs[r]),
    ...segmentParts(ops, x.v[r], kShape, 1, kSegs[r]),
  ]);
  const copied = (rank: number) => (s: Storage) => s !== x.k[rank] && s !== x.v[rank];
  // The dK segments then dV segments of the block each rank holds, float32, travelling with the block. A
  // step's contributions gather in `fresh` first; the gradients arriving from the previous rank are added
  // only after the step's compute has been enqueued, so their transfer overlaps it.
  let grads: Storage[][] | undefined;
  // The gradients last sent: their buffers live until the transfer has finished with them.
  let sent: Storage[][] = [];
  let gradsInFlight: ReturnType<typeof transport.begin> | undefined;
  let fresh: (Storage | undefined)[][] = [];
  const addTo = (into: (Storage | undefined)[], i: number, part: Storage) => {
    const acc = into[i];
    if (!acc) {
      into[i] = part;
      return;
    }
    ops.addInto(acc, part);
    part.dispose();
  };

  try {
    for (let step = 0; step < w; step++) {
      const kvInFlight = step < w - 1 ? transport.begin(kv) : undefined;
      fresh = devices.map((_, r) => [...keysOf(blockSource(ranks[r], step, w)), ...keysOf(blockSource(ranks[r], step, w))].map(() => undefined));
      for (let r = 0; r < devices.length; r++) {
        const segs = keysOf(blockSource(ranks[r], step, w));
        const nk = segs.length;
        qSegs[r].forEach((qs, a) => {
          segs.forEach((ks, b) => {
            const masked = isPairMasked(g, g.diagonalOffset, qs, ks);
            countPair(stats, r, !masked);
            if (masked) return;
            timed(stats, step, r, () => {
              const p = pairProblem(g, qs, ks, devices[r]);
              const L = local[r];
              const part = backend.backward(p, L.dout[a], L.q[a], kv[r][b], kv[r][nk + b], L.out[a], L.lse[a]);
              addTo(dqAcc[r], a, part.dq);
              addTo(fresh[r], b, part.dk);
              addTo(fresh[r], nk + b, part.dv);
            });
          });
        });
      }
      // This step's block gradients: what arrived with the block plus this step's contributions.
      if (gradsInFlight) {
        const arrived = yield gradsInFlight;
        gradsInFlight = undefined;
        for (const block of sent) for (const s of block) s.dispose();
        sent = [];
        grads = arrived;
        grads.forEach((block, r) => block.forEach((s, i) => {
          const part = fresh[r][i];
          if (part) ops.addInto(s, part);
        }));
      } else {
        grads = fresh.map((block, r) => {
          const segs = keysOf(blockSource(ranks[r], step, w));
          return block.map((s, i) => s ?? ops.filled(g.n * segs[i % segs.length].length * g.hk * g.d, 0, devices[r]));
        });
        fresh = fresh.map((block) => block.map(() => undefined));
      }
      for (const block of fresh) for (const s of block) s?.dispose();
      fresh = [];
      // Transfers finish in the order they began (the previous gradients, then this step's K/V), both after
      // this step's compute was enqueued.
      if (kvInFlight) {
        const next = yield kvInFlight;
        kv.forEach((block, r) => block.filter(copied(r)).forEach((s) => s.dispose()));
        kv = next;
      }
      // Sent after the adds (the transfer stream waits for the compute stream); the last send brings them home.
      gradsInFlight = transport.begin(grads);
      sent = grads;
      grads = undefined;
    }
    grads = yield gradsInFlight!;
    gradsInFlight = undefined;
    for (const block of sent) for (const s of block) s.dispose();
    sent = [];

    const join = (parts: Storage[], segs: typeof qSegs[number], heads: number, device: string): Storage => {
      const rounded = parts.map((s) => ops.cast(s, g.dtype));
      if (rounded.length === 1) return rounded[0];
      const joined = ops.concat(rounded, segs.map((s) => [g.n, s.length, heads, g.d]), 1, device);
      for (const s of rounded) s.dispose();
      return joined;
    };
    const dq = dqAcc.map((row, r) => row.map((s, a) => (dqAcc[r][a] = s ?? ops.filled(g.n * qSegs[r][a].length * g.h * g.d, 0, devices[r]))));
    const home = grads;
    return {
      dq: devices.map((device, r) => join(dq[r], qSegs[r], g.h, device)),
      dk: devices.map((device, r) => join(home[r].slice(0, kSegs[r].length), kSegs[r], g.hk, device)),
      dv: devices.map((device, r) => join(home[r].slice(kSegs[r].length), kSegs[r], g.hk, device)),
    };
  } finally {
    for (const row of dqAcc) for (const s of row) s?.dispose();
    for (const block of grads ?? []) for (const s of block) s.dispose();
    for (const block of fresh) for (const s of block) s?.dispose();
    for (const block of sent) for (const s of block) s.dispose();
    for (const block of sent) for (const s of block) s.dispose();
    kv.forEach((block, r) => block.filter(copied(r)).forEach((s) => s.dispose()));
    local.forEach((L, r) => {
      releaseParts(L.q, x.q[r]);
      releaseParts(L.dout, x.dout[r]);
      releaseParts(L.out, x.out[r]);
      releaseParts(L.lse, x.lse[r]);
    });
  }
}
