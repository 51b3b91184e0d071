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

export interface RingForwardShards {
  /** per rank, [n, lq/W, h, d] in the input dtype */
  out: Storage[];
  /** per rank, [n, h, lq/W] float32 */
  lse: Storage[];
}

/**
 * Ring attention forward (Liu et al. 2023, "Ring Attention with Blockwise Transformers"). Rank r keeps its
 * queries; at step s it holds the K/V block of rank r - s. It starts passing that block on, computes its
 * query segments against the block's key segments (skipping pairs the mask hides entirely), merges the
 * float32 partial (o, lse) into its running result, and takes the next block. After W steps every query
 * has seen every key; o is rounded once to the input dtype.
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
  const kShape = [g.n, kLocal, g.hk, g.d];

  const qSegs = devices.map((_, r) => querySegments(plan, ranks[r]));
  const kSegs = new Map<number, ReturnType<typeof keySegments>>();
  const keysOf = (rank: number) => kSegs.get(rank) ?? kSegs.set(rank, keySegments(plan, rank)).get(rank)!;
  const qParts = devices.map((_, r) => segmentParts(ops, q[r], qShape, 1, qSegs[r]));
  // A travelling block is the K segments then the V segments of its home rank.
  let blocks: Storage[][] = devices.map((_, r) => [
    ...segmentParts(ops, k[r], kShape, 1, keysOf(ranks[r])),
    ...segmentParts(ops, v[r], kShape, 1, keysOf(ranks[r])),
  ]);
  const copied = (rank: number) => (s: Storage) => s !== k[rank] && s !== v[rank];

  // Each query segment's running (out, lse), float32: the first computed pair's partial itself (no fill,
  // no merge), merged into after that. Segments that no key reaches are filled at the end.
  type Running = { out: Storage; lse: Storage };
  const acc: (Running | undefined)[][] = devices.map((_, r) => qSegs[r].map(() => undefined));
  const filledIfEmpty = (running: Running | undefined, rows: number, device: string): Running =>
    running ?? { out: ops.filled(g.n * rows * g.h * g.d, 0, device), lse: ops.filled(g.n * g.h * rows, -Infinity, device) };

  try {
    for (let step = 0; step < w; step++) {
      const inFlight = step < w - 1 ? transport.begin(blocks) : undefined;
      for (let r = 0; r < devices.length; r++) {
        const segs = keysOf(blockSource(ranks[r], step, w));
        const block = blocks[r];
        qSegs[r].forEach((qs, a) => {
          segs.forEach((ks, b) => {
            const masked = isPairMasked(g, g.diagonalOffset, qs, ks);
            countPair(stats, r, !masked);
            if (masked) return;
            timed(stats, step, r, () => {
              const p = pairProblem(g, qs, ks, devices[r]);
              const part = backend.forward(p, qParts[r][a], block[b], block[segs.length + b]);
              const running = acc[r][a];
              if (!running) {
                acc[r][a] = part;
                return;
              }
              try {
                ops.mergePartial(running.out, running.lse, part.out, part.lse, { n: g.n, l: qs.length, h: g.h, d: g.d });
              } finally {
                part.out.dispose();
                part.lse.dispose();
              }
            });
          });
        });
      }
      if (inFlight) {
        const next = yield inFlight;
        blocks.forEach((block, r) => block.filter(copied(r)).forEach((s) => s.dispose()));
        blocks = next;
      }
    }
    const done = devices.map((device, r) => qSegs[r].map((qs, a) => filledIfEmpty(acc[r][a], qs.length, device)));
    done.forEach((row, r) => row.forEach((running, a) => (acc[r][a] = running)));
    const out = devices.map((device, r) => {
      const rounded = done[r].map((a) => ops.cast(a.out, g.dtype));
      const shapes = qSegs[r].map((s) => [g.n, s.length, g.h, g.d]);
      const joined = rounded.length === 1 ? rounded[0] : ops.concat(rounded, shapes, 1, device);
      if (rounded.length > 1) for (const x of rounded) x.dispose();
      return joined;
    });
    const lse = devices.map((device, r) => {
      if (done[r].length === 1) return done[r][0].lse;
      const shapes = qSegs[r].map((s) => [g.n, g.h, s.length]);
      return ops.concat(done[r].map((a) => a.lse), shapes, 2, device);
    });
    // Lone lse accumulators became results; everything else accumulated is released below.
    for (const row of done) {
      for (const a of row) {
        a.out.dispose();
        if (row.length > 1) a.lse.dispose();
      }
    }
    return { out, lse };
  } catch (error) {
    for (const row of acc) for (const a of row) if (a) (a.out.dispose(), a.lse.dispose());
    throw error;
  } finally {
    blocks.forEach((block, r) => block.filter(copied(r)).forEach((s) => s.dispose()));
    qParts.forEach((parts, r) => releaseParts(parts, q[r]));
  }
}
