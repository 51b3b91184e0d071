/**
 * A bench run's ratios against the peers, held against flash-attn's speed goals on Hopper (README, bench/NOTES.md):
 * at least 1.5x FlashAttention-2 everywhere and at least 1.0x cuDNN wherever l >= 2048, forward and backward. One
 * line per goal: the range of the ratios, how many rows meet the goal, and the rows that do not. Ratios are counted
 * as the table prints them (two decimals), so that a row shown as 1.50 meets 1.5.
 */
import type { BenchRow } from './bench.js';
import type { PeerResults } from './peers.js';

export interface SpeedGoal {
  /** The table's column. */
  column: 'fwd/FA2' | 'bwd/FA2' | 'fwd/cuDNN' | 'bwd/cuDNN';
  peer: 'flash' | 'cudnn';
  pass: 'fwd' | 'bwd';
  /** Peer time / our time must be at least this. */
  atLeast: number;
  /** Rows with a shorter sequence are not held to the goal. */
  fromLength: number;
}

export const SPEED_GOALS: readonly SpeedGoal[] = [
  { column: 'fwd/FA2', peer: 'flash', pass: 'fwd', atLeast: 1.5, fromLength: 0 },
  { column: 'bwd/FA2', peer: 'flash', pass: 'bwd', atLeast: 1.5, fromLength: 0 },
  { column: 'fwd/cuDNN', peer: 'cudnn', pass: 'fwd', atLeast: 1.0, fromLength: 2048 },
  { column: 'bwd/cuDNN', peer: 'cudnn', pass: 'bwd', atLeast: 1.0, fromLength: 2048 },
];

/** Peer time / our time as the table prints it (two decimals), or undefined where the peer has no time. */
export function printedRatio(ours: number, theirs: number | undefined): string | undefined {
  return theirs && ours > 0 ? (theirs / ours).toFixed(2) : undefined;
}

const rowName = (r: BenchRow) => `d=${r.d} l=${r.l}${r.causal ? ' causal' : ''}`;

/** The summary lines, one per goal; a goal no row with a peer time falls under gets none. */
export function speedGoalLines(
  rows: readonly BenchRow[],
  peers: PeerResults,
  goals: readonly SpeedGoal[] = SPEED_GOALS,
): string[] {
  const lines: string[] = [];
  for (const goal of goals) {
    const held: { row: BenchRow; ratio: number }[] = [];
    rows.forEach((row, i) => {
      const ours = goal.pass === 'fwd' ? row.fwdMs : row.bwdMs;
      const printed = printedRatio(ours, peers.cases[i]?.[goal.peer][`${goal.pass}Ms`]);
      if (row.l >= goal.fromLength && printed !== undefined) held.push({ row, ratio: Number(printed) });
    });
    if (held.length === 0) continue;
    const ratios = held.map((x) => x.ratio);
    const below = held.filter((x) => x.ratio < goal.atLeast);
    const scope = goal.fromLength > 0 ? ` where l >= ${goal.fromLength}` : '';
    const named = below.map((x) => `${rowName(x.row)} ${x.ratio.toFixed(2)}`);
    const misses = below.length === 0 ? '' : `; below: ${named.join(', ')}`;
    lines.push(
      `${goal.column}${scope}: ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}, ` +
        `>= ${goal.atLeast.toFixed(1)} in ${held.length - below.length} of ${held.length} rows${misses}`,
    );
  }
  return lines;
}
