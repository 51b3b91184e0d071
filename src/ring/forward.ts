import { disposals, disposeOnThrow, releaseAfterError, releaseAll, thenRelease } from '../release.js';
import type { Storage } from '../storage.js';
import { type RingSteps, abandon, receivedBlocks, runAsync, runSync } from './drive.js';
import { SegmentCuts, runStepCalls, spanOf } from './calls.js';
import { type RingPlan, blockSource, countPair, keySegments, querySegments, ringRanks, timed } from './schedule.js';

export interface RingForwardShards {
  /** per rank, [n, lq/W, h, d] in the input dtype */
  out: Storage[];
  /** per rank, [n, h, lq/W] float32 */
  lse: Storage[];
}

/**
 * Ring attention forward (Liu et al. 2023, "Ring Attention with Blockwise Transformers"). Rank r keeps its
 * queries; at step s it holds the K/V block of rank r - s. It starts passing that block on, computes its
 * queries against the block in the calls calls.ts groups them into (skipping pairs the mask hides entirely),
 * merges each float32 partial (o, lse) into its running result over the whole shard, and takes the next
 * block. After W steps every query has seen every key; o is rounded once to the input dtype.
 */
export function ringForward(plan: RingPlan, q: readonly Storage[], k: readonly Storage[], v: readonly Storage[]): RingForwardShards {
  return runSync(ringForwardSteps(plan, q, k, v));
}

/** ringForward for a ring whose transport delivers asynchronously (several processes over TCP). */
export function ringForwardAsync(plan: RingPlan, q: readonly Storage[], k: readonly Storage[], v: readonly Storage[]): Promise<RingForwardShards> {
  return runAsync(ringForwardSteps(plan, q, k, v));
}

/**
 * The loop itself, over this process's ranks (index r is local; `ranks[r]` its global rank): it yields
 * each step's transfer and resumes with the arrived blocks (see drive.ts).
 */
function* ringForwardSteps(plan: RingPlan, q: readonly Storage[], k: readonly Storage[], v: readonly Storage[]): RingSteps<RingForwardShards> {
  const { problem: g, ops, transport, devices, backend, stats } = plan;
  const { ranks, worldSize: w } = ringRanks(plan);
  if (w === 1) {
    // One rank holds the whole sequence in order (both layouts): the plain call, rounded once in the kernel.
    countPair(stats, 0, true);
    const whole = timed(stats, 0, 0, () => backend.forward({ ...g, device: devices[0] }, q[0], k[0], v[0]));
    return { out: [whole.out], lse: [whole.lse] };
  }
  const qLocal = g.lq / w;
  const kLocal = g.lk / w;
  const qShape = [g.n, qLocal, g.h, g.d];

  const qSegs = devices.map((_, r) => querySegments(plan, ranks[r]));
  const kSegs = new Map<number, ReturnType<typeof keySegments>>();
  const keysOf = (rank: number) => kSegs.get(rank) ?? kSegs.set(rank, keySegments(plan, rank)).get(rank)!;
  // Query segments cut out of the shard on first use (a call over the whole shard uses the shard itself).
  const qCuts = devices.map((device, r) => new SegmentCuts(ops, [q[r]], [{ shape: qShape, axis: 1 }], qSegs[r], device));
  // A travelling block is its home rank's whole K and V shards.
  let blocks: Storage[][] = devices.map((_, r) => [k[r], v[r]]);

  // Each rank's running (out, lse) over its whole shard, float32: the first partial that covers the whole
  // shard is taken as it is (no fill, no merge); anything else merges into its rows.
  type Running = { out: Storage; lse: Storage };
  const acc: (Running | undefined)[] = devices.map(() => undefined);
  const filled = (r: number): Running =>
    disposeOnThrow((keep) => ({
      out: keep(ops.filled(g.n * qLocal * g.h * g.d, 0, devices[r])),
      lse: keep(ops.filled(g.n * g.h * qLocal, -Infinity, devices[r])),
    }));

  // What the loop holds besides the running results: the blocks it received (not the rank's own shards) and the cuts.
  const held = () => disposals([...receivedBlocks(blocks, k, v), ...qCuts]);
  let inFlight: ReturnType<typeof transport.begin> | undefined;
  try {
    for (let step = 0; step < w; step++) {
      inFlight = step < w - 1 ? transport.begin(blocks) : undefined;
      for (let r = 0; r < devices.length; r++) {
        const at = { step, r, qSegs: qSegs[r], kSegs: keysOf(blockSource(ranks[r], step, w)), kv: blocks[r] };
        runStepCalls(plan, kLocal, at, (call, p, kc, vc) => {
          const part = backend.forward(p, qCuts[r].of(call.q)[0], kc, vc);
          if (!acc[r] && p.lq === qLocal) {
            acc[r] = part;
            return;
          }
          // The partial goes once merged, or when the fill or the merge fails.
          thenRelease(
            () => {
              const running = (acc[r] ??= filled(r));
              const rowOffset = spanOf(qSegs[r], call.q).offsetInShard;
              ops.mergePartial(running.out, running.lse, part.out, part.lse, { n: g.n, l: p.lq, h: g.h, d: g.d, accRows: qLocal, rowOffset });
            },
            () => disposals([part.out, part.lse]),
          );
        });
      }
      if (inFlight) {
        const transfer = inFlight;
        inFlight = undefined;
        const next = yield transfer;
        // The arrived blocks are held before the previous ones go: a release that fails then cannot lose them.
        const previous = blocks;
        blocks = next;
        releaseAll(disposals(receivedBlocks(previous, k, v)));
      }
    }
    const done = devices.map((_, r) => (acc[r] ??= filled(r)));
    // The float32 outs and what the loop holds go once the casts are enqueued; a release that fails takes the casts
    // with it, and the catch below the running results.
    return disposeOnThrow((keep) => {
      const out = done.map((a) => keep(ops.cast(a.out, g.dtype)));
      releaseAll([...disposals(done.map((a) => a.out)), ...held()]);
      return { out, lse: done.map((a) => a.lse) };
    });
  } catch (error) {
    // A transfer still open must finish (in stream order) before the blocks it reads are freed. Releases that fail
    // now only warn: the error in flight names the cause.
    abandon(inFlight);
    releaseAfterError([...disposals(acc.flatMap((a) => (a ? [a.out, a.lse] : []))), ...held()]);
    throw error;
  }
}
