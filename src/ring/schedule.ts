import type { AttentionProblem, Backend } from '../backend.js';
import { thenRelease } from '../release.js';
import { type SequenceLayout, type Segment, segmentsOf } from './layout.js';
import type { RingDeviceOps } from './ops.js';
import type { AnyRingTransport } from './transport.js';

/** Everything one ring pass needs: the global problem, where each rank's positions lie, and the machinery. */
export interface RingPlan {
  /** The unsharded problem: global lq, lk, diagonalOffset = lk - lq, the options. */
  problem: AttentionProblem;
  layout: SequenceLayout;
  /** This process's ranks' devices (every rank of the ring when one process holds them all). */
  devices: readonly string[];
  /**
   * The global rank of each local device, in the same order, and the ring's length over all processes.
   * Default: devices.map((_, i) => i) and devices.length, the single-process ring.
   */
  ranks?: readonly number[];
  worldSize?: number;
  backend: Backend;
  ops: RingDeviceOps;
  transport: AnyRingTransport;
  /** Optional timing of each (step, rank)'s compute, for the benchmark. */
  stats?: RingStats;
}

/** Seconds of compute per step per rank; the benchmark derives the parallel time from it. */
export interface RingStats {
  computeSeconds: number[][];
  pairsComputed: number;
  pairsSkipped: number;
  /** (query segment, key segment) pairs each rank computed */
  pairsByRank: number[];
  /**
   * Where calls only enqueue device work (CUDA), host time means nothing: a clock that marks the start and
   * end of each timed span on the device instead and fills computeSeconds itself once the work is done.
   */
  clock?: RingClock;
}

export interface RingClock {
  begin(step: number, rank: number): void;
  end(step: number, rank: number): void;
}

export function emptyStats(worldSize: number): RingStats {
  return { computeSeconds: [], pairsComputed: 0, pairsSkipped: 0, pairsByRank: new Array<number>(worldSize).fill(0) };
}

/** Counts one pair as computed (or skipped) for `rank`. */
export function countPair(stats: RingStats | undefined, rank: number, computed: boolean): void {
  if (!stats) return;
  if (computed) {
    stats.pairsComputed++;
    stats.pairsByRank[rank]++;
  } else {
    stats.pairsSkipped++;
  }
}

/** The global rank of each local device and the ring's length (all processes together). */
export function ringRanks(plan: RingPlan): { ranks: readonly number[]; worldSize: number } {
  return { ranks: plan.ranks ?? plan.devices.map((_, i) => i), worldSize: plan.worldSize ?? plan.devices.length };
}

/**
 * The segments a rank's shard is computed in. Without a mask (no causal, no window) positions do not matter:
 * the whole shard is one segment, so each step is one attention call per rank on whole shards (no slicing,
 * one merge) whatever the layout. With a mask, one segment per chunk of the layout.
 */
function shardSegments(plan: RingPlan, rank: number, length: number): Segment[] {
  const segments = segmentsOf(plan.layout, ringRanks(plan).worldSize, rank, length);
  const unmasked = plan.problem.windowLeft < 0 && plan.problem.windowRight < 0;
  if (!unmasked || segments.length === 1) return segments;
  return [{ start: segments[0].start, length: segments.reduce((sum, s) => sum + s.length, 0), offsetInShard: 0 }];
}

/** The query positions of global rank `rank`. */
export function querySegments(plan: RingPlan, rank: number): Segment[] {
  return shardSegments(plan, rank, plan.problem.lq);
}

/** The key positions of global rank `rank`. */
export function keySegments(plan: RingPlan, rank: number): Segment[] {
  return shardSegments(plan, rank, plan.problem.lk);
}

/** Rank whose K/V block rank `rank` holds at step `step` (blocks travel to the next rank each step). */
export function blockSource(rank: number, step: number, worldSize: number): number {
  return (((rank - step) % worldSize) + worldSize) % worldSize;
}

/** Runs `work` and adds its seconds to stats[step][rank]. */
export function timed<T>(stats: RingStats | undefined, step: number, rank: number, work: () => T): T {
  if (!stats) return work();
  const clock = stats.clock;
  if (clock) {
    clock.begin(step, rank);
    // The work's own error goes on even if closing its span fails too (as it does in a broken context).
    return thenRelease(work, () => [() => clock.end(step, rank)]);
  }
  const start = process.hrtime.bigint();
  try {
    return work();
  } finally {
    const row = (stats.computeSeconds[step] ??= []);
    row[rank] = (row[rank] ?? 0) + Number(process.hrtime.bigint() - start) / 1e9;
  }
}
