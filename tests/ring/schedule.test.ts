import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { randn } from '../../src/index.js';
import { isAllowed } from '../../src/params.js';
import { ringFlashMhaBwd, ringFlashMhaFwd } from '../../src/ring/attention.js';
import { type SequenceLayout, chunksOf, isPairMasked, segmentsOf } from '../../src/ring/layout.js';
import { emptyStats } from '../../src/ring/schedule.js';
import { shardSequence } from '../../src/ring/sharded.js';
import { cpuDevices } from './support.js';

test('zigzag places chunks i and 2W-1-i on device i; contiguous places chunk i', () => {
  assert.deepEqual(chunksOf('zigzag', 4, 0), [0, 7]);
  assert.deepEqual(chunksOf('zigzag', 4, 3), [3, 4]);
  assert.deepEqual(chunksOf('contiguous', 4, 2), [2]);
  assert.deepEqual(segmentsOf('zigzag', 2, 1, 16), [
    { start: 4, length: 4, offsetInShard: 0 },
    { start: 8, length: 4, offsetInShard: 4 },
  ]);
});

test('isPairMasked is true exactly when no (query, key) pair of the two segments is allowed', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 0, max: 30 }),
      fc.integer({ min: 0, max: 30 }),
      fc.integer({ min: -1, max: 8 }),
      fc.integer({ min: -1, max: 8 }),
      fc.integer({ min: -20, max: 20 }),
      (ql, kl, qs, ks, left, right, offset) => {
        const mask = { windowLeft: left, windowRight: right, diagonalOffset: offset };
        let any = false;
        for (let i = qs; i < qs + ql; i++) for (let j = ks; j < ks + kl; j++) any ||= isAllowed(mask, i, j);
        const q = { start: qs, length: ql, offsetInShard: 0 };
        const k = { start: ks, length: kl, offsetInShard: 0 };
        return isPairMasked(mask, offset, q, k) === !any;
      },
    ),
    { seed: 42, numRuns: 2000 },
  );
});

function countPairs(layout: SequenceLayout, w: number, isCausal: boolean) {
  const devices = cpuDevices(w);
  const shard = (shape: number[], seed: number) => shardSequence(randn(shape, { seed }), devices, { layout });
  const [q, k, v] = [shard([1, 32, 2, 4], 1), shard([1, 32, 1, 4], 2), shard([1, 32, 1, 4], 3)];
  const stats = emptyStats(w);
  const fwd = ringFlashMhaFwd(q, k, v, { isCausal }, stats);
  const bwdStats = emptyStats(w);
  ringFlashMhaBwd(shard([1, 32, 2, 4], 4), q, k, v, fwd.out, fwd.lse, { isCausal }, bwdStats);
  return { stats, bwdStats };
}

test('causal blocks above the diagonal are skipped, and zigzag gives every rank the same work', () => {
  // Zigzag over 4 ranks: 8 chunks, 64 chunk pairs, 36 on or below the diagonal.
  const zig = countPairs('zigzag', 4, true);
  assert.equal(zig.stats.pairsComputed, 36);
  assert.equal(zig.stats.pairsSkipped, 28);
  assert.deepEqual(zig.stats.pairsByRank, [9, 9, 9, 9]);
  assert.deepEqual(zig.bwdStats.pairsByRank, [9, 9, 9, 9]);
  // Contiguous: rank r computes r + 1 of its 4 pairs, unbalanced.
  const contiguous = countPairs('contiguous', 4, true);
  assert.deepEqual(contiguous.stats.pairsByRank, [1, 2, 3, 4]);
  assert.equal(contiguous.stats.pairsSkipped, 6);
  // Without a mask positions do not matter: each shard is one segment, one pair per rank and step, none skipped.
  const full = countPairs('zigzag', 4, false);
  assert.equal(full.stats.pairsSkipped, 0);
  assert.equal(full.stats.pairsComputed, 16);
  assert.deepEqual(full.stats.pairsByRank, [4, 4, 4, 4]);
});
