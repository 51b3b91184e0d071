/**
 * Which attention calls one rank makes at one ring step: its query segments against the visiting block's key
 * segments, grouped into as few calls as the mask allows. A pair the mask hides entirely is skipped; a pair
 * the mask cuts through is its own call, with the mask placed by the diagonal offset (pairProblem); pairs
 * every query of which sees every key merge into one unmasked call when they fill a whole row or column of
 * segments (the whole shard's queries against one key segment, one query segment against the whole block),
 * so a zigzag rank makes one large call, not two small ones, at every step but its first. A call spans
 * several segments only when they are the whole shard or block, which is one storage as it is.
 */
import type { AttentionProblem } from '../backend.js';
import { disposals, disposeOnThrow, releaseAll, thenRelease } from '../release.js';
import type { Storage } from '../storage.js';
import { type Segment, isPairMasked, pairProblem } from './layout.js';
import type { RingDeviceOps } from './ops.js';
import { type RingPlan, countPair, timed } from './schedule.js';

/** How a (query segment, key segment) pair stands under the mask. */
export type Visibility = 'masked' | 'partial' | 'full';

/** One call: query segments [q[0], q[1]) against key segments [k[0], k[1]); `full`: no key is masked in it. */
export interface PairCall {
  q: readonly [number, number];
  k: readonly [number, number];
  full: boolean;
}

type MaskFields = Pick<AttentionProblem, 'windowLeft' | 'windowRight'>;

/**
 * Whether every query of `q` sees every key of `k` (global positions, offset = lk - lq). Query i sees
 * [i + offset - left, i + offset + right]: the last query's lower bound and the first one's upper bound decide.
 */
export function isPairFull(mask: MaskFields, offset: number, q: Segment, k: Segment): boolean {
  if (q.length === 0 || k.length === 0) return false;
  const lowestOfLast = mask.windowLeft < 0 ? -Infinity : q.start + q.length - 1 + offset - mask.windowLeft;
  const highestOfFirst = mask.windowRight < 0 ? Infinity : q.start + offset + mask.windowRight;
  return lowestOfLast <= k.start && highestOfFirst >= k.start + k.length - 1;
}

export function pairVisibility(mask: MaskFields, offset: number, q: Segment, k: Segment): Visibility {
  if (isPairMasked(mask, offset, q, k)) return 'masked';
  return isPairFull(mask, offset, q, k) ? 'full' : 'partial';
}

/** The calls for `qSegs` against `kSegs` under the global problem's mask, every visible pair in exactly one. */
export function pairCalls(g: AttentionProblem, qSegs: readonly Segment[], kSegs: readonly Segment[]): PairCall[] {
  const seen = qSegs.map((qs) => kSegs.map((ks) => pairVisibility(g, g.diagonalOffset, qs, ks)));
  const nq = qSegs.length;
  const nk = kSegs.length;
  const allFull = seen.every((row) => row.every((x) => x === 'full'));
  if (allFull) return [{ q: [0, nq], k: [0, nk], full: true }];
  const covered = seen.map((row) => row.map(() => false));
  const calls: PairCall[] = [];
  if (nq > 1) {
    for (let b = 0; b < nk; b++) {
      if (!seen.every((row) => row[b] === 'full')) continue;
      calls.push({ q: [0, nq], k: [b, b + 1], full: true });
      for (const row of covered) row[b] = true;
    }
  }
  if (nk > 1) {
    for (let a = 0; a < nq; a++) {
      if (!seen[a].every((x, b) => x === 'full' && !covered[a][b])) continue;
      calls.push({ q: [a, a + 1], k: [0, nk], full: true });
      covered[a].fill(true);
    }
  }
  seen.forEach((row, a) =>
    row.forEach((x, b) => {
      if (x !== 'masked' && !covered[a][b]) calls.push({ q: [a, a + 1], k: [b, b + 1], full: x === 'full' });
    }),
  );
  return calls;
}

/** Rows of a segment range, and where it starts in its shard. */
export function spanOf(segments: readonly Segment[], range: readonly [number, number]): { rows: number; offsetInShard: number } {
  const chosen = segments.slice(range[0], range[1]);
  return { rows: chosen.reduce((sum, s) => sum + s.length, 0), offsetInShard: chosen[0].offsetInShard };
}

/**
 * The problem a call poses to the backend: a single pair keeps the mask, placed by its diagonal offset; a full
 * call drops it (every key is visible), which is what lets it span segments that are not adjacent positions.
 * Partial results are float32, merged before the one final rounding.
 */
export function callProblem(g: AttentionProblem, qSegs: readonly Segment[], kSegs: readonly Segment[], call: PairCall, device: string): AttentionProblem {
  const single = call.q[1] - call.q[0] === 1 && call.k[1] - call.k[0] === 1;
  if (single && !call.full) return pairProblem(g, qSegs[call.q[0]], kSegs[call.k[0]], device);
  const lq = spanOf(qSegs, call.q).rows;
  const lk = spanOf(kSegs, call.k).rows;
  return { ...g, lq, lk, device, windowLeft: -1, windowRight: -1, diagonalOffset: lk - lq, outDtype: 'float32', partialKeys: true };
}

/** Whether a call covers every segment of a side (so that side's storage is the shard or block itself). */
export function isWhole(range: readonly [number, number], segments: readonly Segment[]): boolean {
  return range[0] === 0 && range[1] === segments.length;
}

/** How to cut one whole-shard storage along its segments: its shape and the axis the segments run along. */
export interface CutLayout {
  shape: readonly number[];
  axis: number;
}

/**
 * The storages a call reads for a range of segments: the whole shards themselves for the whole range, else
 * one copy of each, cut on first use and kept until dispose().
 */
export class SegmentCuts {
  readonly #cuts = new Map<number, Storage[]>();

  constructor(
    private readonly ops: RingDeviceOps,
    private readonly wholes: readonly Storage[],
    private readonly layouts: readonly CutLayout[],
    private readonly segments: readonly Segment[],
    private readonly device: string,
  ) {}

  of(range: readonly [number, number]): readonly Storage[] {
    if (isWhole(range, this.segments)) return this.wholes;
    const { offsetInShard, length } = this.segments[range[0]];
    let cut = this.#cuts.get(range[0]);
    if (!cut) {
      cut = disposeOnThrow((keep) =>
        this.wholes.map((s, i) => keep(this.ops.slice(s, this.layouts[i].shape, this.layouts[i].axis, offsetInShard, length, this.device))),
      );
      this.#cuts.set(range[0], cut);
    }
    return cut;
  }

  dispose(): void {
    const cuts = [...this.#cuts.values()].flat();
    this.#cuts.clear();
    releaseAll(disposals(cuts));
  }
}

/** What rank r (index r of this process's devices) holds at one step: its query segments and the visiting block. */
export interface StepBlock {
  step: number;
  r: number;
  qSegs: readonly Segment[];
  /** The block's key segments (those of its home rank) and its K and V, each [n, kLocal, hk, d]. */
  kSegs: readonly Segment[];
  kv: readonly Storage[];
}

/**
 * The calls rank r makes against the block it holds at a step, forward and backward alike: counts the block's pairs,
 * cuts K and V along the key segments on first use (released after the step, also when a call fails), and times each
 * call, handing `body` the call, the problem it poses and its K and V.
 */
export function runStepCalls(
  plan: Pick<RingPlan, 'problem' | 'ops' | 'stats' | 'devices'>,
  kLocal: number,
  at: StepBlock,
  body: (call: PairCall, p: AttentionProblem, k: Storage, v: Storage) => void,
): void {
  const { problem: g, ops, stats, devices } = plan;
  const { step, r, qSegs, kSegs } = at;
  qSegs.forEach((qs) => kSegs.forEach((ks) => countPair(stats, r, !isPairMasked(g, g.diagonalOffset, qs, ks))));
  const kShape = [g.n, kLocal, g.hk, g.d];
  const kvCuts = new SegmentCuts(ops, at.kv, [{ shape: kShape, axis: 1 }, { shape: kShape, axis: 1 }], kSegs, devices[r]);
  thenRelease(
    () => {
      for (const call of pairCalls(g, qSegs, kSegs)) {
        timed(stats, step, r, () => {
          const [k, v] = kvCuts.of(call.k);
          body(call, callProblem(g, qSegs, kSegs, call, devices[r]), k, v);
        });
      }
    },
    () => [() => kvCuts.dispose()],
  );
}
