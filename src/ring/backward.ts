import { disposals, disposeOnThrow, releaseAfterError, releaseAll, thenRelease } from '../release.js';
import type { Storage } from '../storage.js';
import { type RingSteps, abandon, receivedBlocks, runAsync, runSync } from './drive.js';
import { SegmentCuts, runStepCalls, spanOf } from './calls.js';
import { type RingPlan, blockSource, countPair, keySegments, querySegments, ringRanks, timed } from './schedule.js';

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
 * With `deterministic` (carried to every call by callProblem) the whole ring backward is bitwise repeatable:
 * each call's backward is, and the ring's own arithmetic runs in an order fixed by the schedule alone. dQ and
 * each travelling dK/dV block are added to by the loops below in (step, rank, call) order; addInto and addRows
 * are element-wise (one thread per element on CUDA, kernels/ring/ring_ops.cu), as is the final cast; the
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
  const qLocal = g.lq / w;
  const kLocal = g.lk / w;
  const qShape = [g.n, qLocal, g.h, g.d];
  const lseShape = [g.n, g.h, qLocal];

  const qSegs = devices.map((_, r) => querySegments(plan, ranks[r]));
  // Key positions by global rank: a visiting block's positions are those of its home rank.
  const kSegMap = new Map<number, ReturnType<typeof keySegments>>();
  const keysOf = (rank: number) => kSegMap.get(rank) ?? kSegMap.set(rank, keySegments(plan, rank)).get(rank)!;
  // The query side's segments (q, dout, out along the length, lse along its last axis) cut out on first use.
  const querySide = [{ shape: qShape, axis: 1 }, { shape: qShape, axis: 1 }, { shape: qShape, axis: 1 }, { shape: lseShape, axis: 2 }];
  const qCuts = devices.map((device, r) => new SegmentCuts(ops, [x.q[r], x.dout[r], x.out[r], x.lse[r]], querySide, qSegs[r], device));
  // dQ over each rank's whole shard, float32 (the first contribution that covers it is taken as it is).
  const dqAcc: (Storage | undefined)[] = devices.map(() => undefined);
  // A travelling block is its home rank's whole K and V shards.
  let kv: Storage[][] = devices.map((_, r) => [x.k[r], x.v[r]]);
  // The block's dK and dV, float32, travelling with it. A step's contributions gather in `fresh` first; the
  // gradients arriving from the previous rank are added only after the step's compute has been enqueued, so
  // their transfer overlaps it.
  let grads: Storage[][] | undefined;
  // The gradients last sent: their buffers live until the transfer has finished with them.
  let sent: Storage[][] = [];
  let gradsInFlight: ReturnType<typeof transport.begin> | undefined;
  let fresh: (Storage | undefined)[][] = [];
  /** Adds `part` (`rows` rows at `rowOffset` of `total`) into slot i of `into`, or takes it when it covers all. */
  const addTo = (into: (Storage | undefined)[], i: number, part: Storage, rows: number, rowOffset: number, total: number, heads: number, device: string) => {
    if (!into[i] && rows === total) {
      into[i] = part;
      return;
    }
    thenRelease(
      () => {
        const acc = (into[i] ??= ops.filled(g.n * total * heads * g.d, 0, device));
        if (rows === total) ops.addInto(acc, part);
        else ops.addRows(acc, part, { n: g.n, rows, accRows: total, rowOffset, rowElements: heads * g.d });
      },
      () => [() => part.dispose()],
    );
  };
  let kvInFlight: ReturnType<typeof transport.begin> | undefined;
  // Everything the loop holds: accumulators, gradients travelling or gathering, received K/V blocks and the cuts.
  const held = () => disposals([...[dqAcc, ...(grads ?? []), ...fresh, ...sent].flat(), ...receivedBlocks(kv, x.k, x.v), ...qCuts]);

  try {
    for (let step = 0; step < w; step++) {
      kvInFlight = step < w - 1 ? transport.begin(kv) : undefined;
      fresh = devices.map(() => [undefined, undefined]);
      for (let r = 0; r < devices.length; r++) {
        const at = { step, r, qSegs: qSegs[r], kSegs: keysOf(blockSource(ranks[r], step, w)), kv: kv[r] };
        runStepCalls(plan, kLocal, at, (call, p, kc, vc) => {
          const [qc, doutc, outc, lsec] = qCuts[r].of(call.q);
          const part = backend.backward(p, doutc, qc, kc, vc, outc, lsec);
          const qRows = spanOf(qSegs[r], call.q).offsetInShard;
          const kRows = spanOf(at.kSegs, call.k).offsetInShard;
          // addTo consumes its part even when it throws; the parts not reached are released after.
          const left = [part.dq, part.dk, part.dv];
          thenRelease(
            () => {
              addTo(dqAcc, r, left.shift()!, p.lq, qRows, qLocal, g.h, devices[r]);
              addTo(fresh[r], 0, left.shift()!, p.lk, kRows, kLocal, g.hk, devices[r]);
              addTo(fresh[r], 1, left.shift()!, p.lk, kRows, kLocal, g.hk, devices[r]);
            },
            () => disposals(left),
          );
        });
      }
      // This step's block gradients: what arrived with the block plus this step's contributions.
      if (gradsInFlight) {
        const transfer = gradsInFlight;
        gradsInFlight = undefined;
        const arrived = yield transfer;
        // What arrived is held before the sent buffers go: a release that fails then cannot lose it.
        grads = arrived;
        const done = sent;
        sent = [];
        releaseAll(disposals(done.flat()));
        grads.forEach((block, r) =>
          block.forEach((s, i) => {
            const part = fresh[r][i];
            if (part) ops.addInto(s, part);
          }),
        );
        const added = fresh;
        fresh = [];
        releaseAll(disposals(added.flat()));
      } else {
        // The first step's contributions become the travelling gradients themselves.
        // Only the fills are new here: on a failure `fresh` still holds the parts, and the catch releases them.
        grads = disposeOnThrow((keep) => fresh.map((block, r) => block.map((s) => s ?? keep(ops.filled(g.n * kLocal * g.hk * g.d, 0, devices[r])))));
        fresh = [];
      }
      // Transfers finish in the order they began (the previous gradients, then this step's K/V), both after
      // this step's compute was enqueued.
      if (kvInFlight) {
        const transfer = kvInFlight;
        kvInFlight = undefined;
        const next = yield transfer;
        // Likewise the arrived K/V before the previous blocks go.
        const previous = kv;
        kv = next;
        releaseAll(disposals(receivedBlocks(previous, x.k, x.v)));
      }
      // Sent after the adds (the transfer stream waits for the compute stream); the last send brings them home.
      gradsInFlight = transport.begin(grads);
      sent = grads;
      grads = undefined;
    }
    const homeward = gradsInFlight!;
    gradsInFlight = undefined;
    grads = yield homeward;
    const done = sent;
    sent = [];
    releaseAll(disposals(done.flat()));

    const dq = devices.map((_, r) => (dqAcc[r] ??= ops.filled(g.n * qLocal * g.h * g.d, 0, devices[r])));
    const home = grads;
    // The float32 accumulators and what the loop holds go once the casts are enqueued; a release that fails takes
    // the casts with it, and the catch below the rest.
    return disposeOnThrow((keep) => {
      const result = {
        dq: dq.map((s) => keep(ops.cast(s, g.dtype))),
        dk: home.map((block) => keep(ops.cast(block[0], g.dtype))),
        dv: home.map((block) => keep(ops.cast(block[1], g.dtype))),
      };
      releaseAll(held());
      return result;
    });
  } catch (error) {
    // Transfers still open must finish (in stream order) before what they read is freed. Releases that fail now
    // only warn: the error in flight names the cause.
    abandon(gradsInFlight);
    abandon(kvInFlight);
    releaseAfterError(held());
    throw error;
  }
}
