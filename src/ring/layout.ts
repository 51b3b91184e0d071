import type { AttentionProblem } from '../backend.js';

/**
 * How a sequence is cut over W devices. 'contiguous': W equal chunks, device i holds chunk i.
 * 'zigzag': 2W equal chunks, device i holds chunks i and 2W-1-i (in that order), so under a causal mask
 * every device has the same amount of work (an early chunk with little to see, a late one with a lot).
 */
export type SequenceLayout = 'contiguous' | 'zigzag';

export const LAYOUTS: readonly SequenceLayout[] = ['contiguous', 'zigzag'];

export function chunkCount(layout: SequenceLayout, worldSize: number): number {
  return layout === 'zigzag' ? 2 * worldSize : worldSize;
}

/** The global chunk indices rank `rank` holds, in the order they sit inside its shard. */
export function chunksOf(layout: SequenceLayout, worldSize: number, rank: number): number[] {
  return layout === 'zigzag' ? [rank, 2 * worldSize - 1 - rank] : [rank];
}

/** One contiguous run of global positions inside a shard. */
export interface Segment {
  /** first global position */
  start: number;
  length: number;
  /** where the run begins inside the shard */
  offsetInShard: number;
}

/** The segments of rank `rank`'s shard of a sequence of `length` positions (length divisible by the chunk count). */
export function segmentsOf(layout: SequenceLayout, worldSize: number, rank: number, length: number): Segment[] {
  const chunk = length / chunkCount(layout, worldSize);
  return chunksOf(layout, worldSize, rank).map((c, index) => ({ start: c * chunk, length: chunk, offsetInShard: index * chunk }));
}

type MaskFields = Pick<AttentionProblem, 'windowLeft' | 'windowRight'>;

/**
 * Whether no query of the segment `q` may see any key of the segment `k` (global positions, global
 * diagonal offset `offset` = lk - lq). Query i sees keys [i + offset - left, i + offset + right]; over a
 * run of queries these windows slide by one and overlap (left, right >= 0), so their union is the single
 * range from the first query's lower bound to the last query's upper bound.
 */
export function isPairMasked(mask: MaskFields, offset: number, q: Segment, k: Segment): boolean {
  if (q.length === 0 || k.length === 0) return true;
  const lowest = mask.windowLeft < 0 ? -Infinity : q.start + offset - mask.windowLeft;
  const highest = mask.windowRight < 0 ? Infinity : q.start + q.length - 1 + offset + mask.windowRight;
  return k.start + k.length - 1 < lowest || k.start > highest;
}

/**
 * The problem one (query segment, key segment) pair poses to a backend: local lengths, and the diagonal
 * offset that places local positions at their global ones. Query i' (global qs + i') sees key j' (global
 * ks + j') iff j' >= i' + (qs - ks + offset) - left (and likewise on the right), so the local offset is
 * qs - ks + offset. Partial results are float32 so that merging happens before the one final rounding.
 */
export function pairProblem(global: AttentionProblem, q: Segment, k: Segment, device: string): AttentionProblem {
  return {
    ...global,
    lq: q.length,
    lk: k.length,
    device,
    diagonalOffset: q.start - k.start + global.diagonalOffset,
    outDtype: 'float32',
    partialKeys: true,
  };
}
