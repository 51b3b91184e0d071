// How a rank's step is cut into attention calls (src/ring/calls.ts): every visible pair in exactly one call,
// full pairs grouped into whole-shard rows and columns, the mask kept only on single pairs it cuts through;
// and the host ops that put a segment's results into their place in a shard (merge and add at a row offset).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { AttentionProblem } from '../../src/backend.js';
import { callProblem, isPairFull, pairCalls, pairVisibility } from '../../src/ring/calls.js';
import { hostRingOps } from '../../src/ring/host-ops.js';
import { type SequenceLayout, segmentsOf } from '../../src/ring/layout.js';
import { HostStorage } from '../../src/storage.js';

function problem(l: number, mask: { causal?: boolean; window?: [number, number] }, lk = l): AttentionProblem {
  return {
    n: 1, lq: l, lk, h: 1, hk: 1, d: 8, dtype: 'float32', device: 'cpu:0', softmaxScale: 1, outDtype: 'float32', deterministic: false,
    windowLeft: mask.window?.[0] ?? -1, windowRight: mask.causal ? 0 : (mask.window?.[1] ?? -1), diagonalOffset: lk - l,
  };
}

/** Brute force: does query i see key j under g's mask (global positions)? */
const sees = (g: AttentionProblem, i: number, j: number) =>
  (g.windowLeft < 0 || j >= i + g.diagonalOffset - g.windowLeft) && (g.windowRight < 0 || j <= i + g.diagonalOffset + g.windowRight);

test('zigzag, causal, W = 2: the own block takes three calls, the other one a single whole-shard call', () => {
  const g = problem(16, { causal: true });
  const seg = (rank: number) => segmentsOf('zigzag', 2, rank, 16);
  // Rank 0 holds chunks 0 and 3, rank 1 chunks 1 and 2 (4 positions each).
  assert.deepEqual(pairCalls(g, seg(0), seg(0)), [
    { q: [0, 1], k: [0, 1], full: false },
    { q: [1, 2], k: [0, 1], full: true },
    { q: [1, 2], k: [1, 2], full: false },
  ]);
  // Rank 0's late chunk sees all of rank 1's block: one call, its query segment against the whole block.
  assert.deepEqual(pairCalls(g, seg(0), seg(1)), [{ q: [1, 2], k: [0, 2], full: true }]);
  // Rank 1's whole shard sees rank 0's early chunk: one call, the whole shard against that key segment.
  assert.deepEqual(pairCalls(g, seg(1), seg(0)), [{ q: [0, 2], k: [0, 1], full: true }]);
});

test('without a mask a step is one call over the whole shard and block', () => {
  const g = problem(16, {});
  assert.deepEqual(pairCalls(g, segmentsOf('zigzag', 2, 1, 16), segmentsOf('zigzag', 2, 0, 16)), [{ q: [0, 2], k: [0, 2], full: true }]);
});

test('every visible pair lands in exactly one call, a full call only holds full pairs, and calls agree with the mask', () => {
  const layouts: SequenceLayout[] = ['contiguous', 'zigzag'];
  fc.assert(
    fc.property(
      fc.constantFrom(...layouts),
      fc.integer({ min: 2, max: 4 }),
      fc.integer({ min: 1, max: 3 }),
      fc.option(fc.tuple(fc.integer({ min: -1, max: 12 }), fc.integer({ min: -1, max: 12 })), { nil: undefined }),
      fc.boolean(),
      fc.constantFrom(1, 2, 3),
      fc.constantFrom(1, 2, 3),
      (layout, w, chunk, window, causal, qScale, kScale) => {
        // lq != lk too: the diagonal offset lk - lq places the mask.
        const [lq, lk] = [2 * w * chunk * qScale, 2 * w * chunk * kScale];
        const g = problem(lq, { causal, window }, lk);
        for (let r = 0; r < w; r++) {
          for (let s = 0; s < w; s++) {
            const qSegs = segmentsOf(layout, w, r, lq);
            const kSegs = segmentsOf(layout, w, s, lk);
            const count = qSegs.map(() => kSegs.map(() => 0));
            for (const call of pairCalls(g, qSegs, kSegs)) {
              const multi = call.q[1] - call.q[0] > 1 || call.k[1] - call.k[0] > 1;
              if (multi && !call.full) return false;
              for (let a = call.q[0]; a < call.q[1]; a++) {
                for (let b = call.k[0]; b < call.k[1]; b++) {
                  count[a][b]++;
                  if (call.full && pairVisibility(g, g.diagonalOffset, qSegs[a], kSegs[b]) !== 'full') return false;
                }
              }
              // A call's own problem allows exactly the pairs the global mask allows (single pairs keep the mask).
              if (!multi) {
                const p = callProblem(g, qSegs, kSegs, call, 'cpu:0');
                const [qs, ks] = [qSegs[call.q[0]], kSegs[call.k[0]]];
                for (let i = 0; i < qs.length; i++) for (let j = 0; j < ks.length; j++) if (sees(p, i, j) !== sees(g, qs.start + i, ks.start + j)) return false;
              }
            }
            for (let a = 0; a < qSegs.length; a++) {
              for (let b = 0; b < kSegs.length; b++) {
                const visible = pairVisibility(g, g.diagonalOffset, qSegs[a], kSegs[b]) !== 'masked';
                if (count[a][b] !== (visible ? 1 : 0)) return false;
              }
            }
          }
        }
        return true;
      },
    ),
    { seed: 7, numRuns: 300 },
  );
});

test('isPairFull agrees with checking every (query, key) pair', () => {
  fc.assert(
    fc.property(fc.integer({ min: -1, max: 9 }), fc.integer({ min: -1, max: 9 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: -6, max: 6 }), (left, right, qs, ql, ks, kl, offset) => {
      const g = problem(32, { window: [left, right] }, 32 + offset);
      let all = true;
      for (let i = qs; i < qs + ql; i++) for (let j = ks; j < ks + kl; j++) all &&= sees(g, i, j);
      return isPairFull(g, g.diagonalOffset, { start: qs, length: ql, offsetInShard: 0 }, { start: ks, length: kl, offsetInShard: 0 }) === all;
    }),
    { seed: 8, numRuns: 500 },
  );
});

test('host ops: a partial merged at a row offset equals merging into those rows alone; addRows adds into its rows', () => {
  const [n, h, d, accRows, rows, offset] = [2, 2, 3, 5, 2, 3];
  const f32 = (length: number, seed: number) => Float32Array.from({ length }, (_, i) => Math.sin(seed * 7 + i));
  const storage = (a: Float32Array) => new HostStorage('cpu:0', 'float32', a);
  const accOut = f32(n * accRows * h * d, 1);
  const accLse = f32(n * h * accRows, 2);
  const partOut = f32(n * rows * h * d, 3);
  const partLse = f32(n * h * rows, 4);
  const [wholeOut, wholeLse] = [accOut.slice(), accLse.slice()];
  hostRingOps.mergePartial(storage(wholeOut), storage(wholeLse), storage(partOut), storage(partLse), { n, l: rows, h, d, accRows, rowOffset: offset });
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < accRows; i++) {
      const inside = i >= offset && i < offset + rows;
      for (let head = 0; head < h; head++) {
        const accLseAt = (b * h + head) * accRows + i;
        if (!inside) {
          assert.equal(wholeLse[accLseAt], accLse[accLseAt]);
          continue;
        }
        const la = accLse[accLseAt];
        const lb = partLse[(b * h + head) * rows + (i - offset)];
        const lse = Math.max(la, lb) + Math.log(Math.exp(la - Math.max(la, lb)) + Math.exp(lb - Math.max(la, lb)));
        assert.ok(Math.abs(wholeLse[accLseAt] - lse) < 1e-6);
        for (let x = 0; x < d; x++) {
          const o = ((b * accRows + i) * h + head) * d + x;
          const p = ((b * rows + i - offset) * h + head) * d + x;
          assert.ok(Math.abs(wholeOut[o] - (Math.exp(la - lse) * accOut[o] + Math.exp(lb - lse) * partOut[p])) < 1e-5);
        }
      }
    }
  }
  const acc = f32(n * accRows * h * d, 5);
  const added = acc.slice();
  hostRingOps.addRows(storage(added), storage(partOut), { n, rows, accRows, rowOffset: offset, rowElements: h * d });
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < accRows; i++) {
      for (let e = 0; e < h * d; e++) {
        const at = (b * accRows + i) * h * d + e;
        const expected = i >= offset && i < offset + rows ? acc[at] + partOut[(b * rows + i - offset) * h * d + e] : acc[at];
        assert.equal(added[at], Math.fround(expected));
      }
    }
  }
});
