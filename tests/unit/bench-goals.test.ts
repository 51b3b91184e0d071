/** The bench's goal lines: ranges, counts and the rows below, from ratios rounded as the table prints them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BenchRow } from '../../src/cli/bench.js';
import { speedGoalLines } from '../../src/cli/bench-goals.js';
import type { PeerResults } from '../../src/cli/peers.js';

const row = (l: number, causal: boolean, fwdMs: number, bwdMs: number): BenchRow =>
  ({ n: 1, l, h: 8, d: 128, causal, fwdMs, bwdMs, fwdFlops: 0, bwdFlops: 0 });
const peers = (cases: PeerResults['cases']): PeerResults => ({ info: { torch: 't', cudnn: 1, device: 'g' }, cases });

test('each goal: range, count and the rows below it; cuDNN held only where l >= 2048', () => {
  const rows = [row(512, false, 1, 1), row(2048, true, 1, 1), row(4096, false, 1, 1)];
  const lines = speedGoalLines(rows, peers([
    { flash: { fwdMs: 1.4, bwdMs: 2 }, cudnn: { fwdMs: 0.5, bwdMs: 0.5 } },
    { flash: { fwdMs: 1.6, bwdMs: 2 }, cudnn: { fwdMs: 0.98, bwdMs: 1.2 } },
    { flash: { fwdMs: 2.5, bwdMs: 2 }, cudnn: { fwdMs: 1.1, bwdMs: 1 } },
  ]));
  assert.deepEqual(lines, [
    'fwd/FA2: 1.40-2.50, >= 1.5 in 2 of 3 rows; below: d=128 l=512 1.40',
    'bwd/FA2: 2.00-2.00, >= 1.5 in 3 of 3 rows',
    'fwd/cuDNN where l >= 2048: 0.98-1.10, >= 1.0 in 1 of 2 rows; below: d=128 l=2048 causal 0.98',
    'bwd/cuDNN where l >= 2048: 1.00-1.20, >= 1.0 in 2 of 2 rows',
  ]);
});

test('a ratio is counted as printed: 1.4996 shows as 1.50 and meets 1.5; 0.9949 shows as 0.99 and does not meet 1.0', () => {
  const lines = speedGoalLines([row(4096, false, 1, 1)], peers([{ flash: { fwdMs: 1.4996, bwdMs: 1.5 }, cudnn: { fwdMs: 0.9949, bwdMs: 1 } }]));
  assert.equal(lines[0], 'fwd/FA2: 1.50-1.50, >= 1.5 in 1 of 1 rows');
  assert.equal(lines[2], 'fwd/cuDNN where l >= 2048: 0.99-0.99, >= 1.0 in 0 of 1 rows; below: d=128 l=4096 0.99');
});

test('a peer without a time (it failed on that row) leaves the row out; a goal with no row left gets no line', () => {
  const lines = speedGoalLines([row(512, false, 1, 1), row(1024, false, 1, 1)], peers([
    { flash: { error: 'out of memory' }, cudnn: {} },
    { flash: { fwdMs: 2, bwdMs: 2 }, cudnn: { fwdMs: 1, bwdMs: 1 } },
  ]));
  assert.deepEqual(lines, ['fwd/FA2: 2.00-2.00, >= 1.5 in 1 of 1 rows', 'bwd/FA2: 2.00-2.00, >= 1.5 in 1 of 1 rows']);
});
