// Rings across processes: W processes (each holding 1 or 2 cpu ranks) against the single-process result.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Tensor, flashMhaBwd, flashMhaFwd } from '../../src/index.js';
import type { SequenceLayout } from '../../src/ring/layout.js';
import { runRing } from './distributed-launch.js';
import { type Case, describeCase, makeInputs, maxError, options, reference, RING_BOUND, type RingOutput as Output } from './support.js';


interface RingCase {
  processes: number;
  local: number;
  layout: SequenceLayout;
  c: Case;
  /** explicit global ranks per process (default: process p holds p*local .. p*local+local-1) */
  ranks?: number[][];
}

const CASES: RingCase[] = [
  { processes: 2, local: 1, layout: 'contiguous', c: { n: 1, lq: 48, lk: 48, h: 4, hk: 2, d: 8, dtype: 'float32', seed: 201 } },
  { processes: 2, local: 2, layout: 'zigzag', c: { n: 2, lq: 48, lk: 48, h: 4, hk: 2, d: 8, dtype: 'bfloat16', isCausal: true, seed: 202 } },
  { processes: 3, local: 1, layout: 'zigzag', c: { n: 1, lq: 48, lk: 48, h: 2, hk: 2, d: 8, dtype: 'float32', windowSize: [5, 2], seed: 203 } },
  { processes: 3, local: 2, layout: 'contiguous', c: { n: 1, lq: 48, lk: 48, h: 4, hk: 1, d: 8, dtype: 'bfloat16', isCausal: true, seed: 204 } },
  // lq > lk under a causal mask: rows with no key at all (lse = -Infinity) on every rank.
  { processes: 4, local: 1, layout: 'zigzag', c: { n: 1, lq: 96, lk: 48, h: 4, hk: 1, d: 8, dtype: 'float32', isCausal: true, seed: 205 } },
  { processes: 4, local: 2, layout: 'zigzag', c: { n: 1, lq: 48, lk: 48, h: 4, hk: 2, d: 8, dtype: 'bfloat16', windowSize: [7, -1], seed: 206 } },
  // Interleaved ranks: every ring step crosses between the two processes.
  { processes: 2, local: 2, layout: 'contiguous', ranks: [[0, 2], [1, 3]], c: { n: 1, lq: 48, lk: 96, h: 2, hk: 1, d: 8, dtype: 'float32', windowSize: [10, 4], seed: 207 } },
  // One process holding the whole ring through a group: no sockets, the same async path.
  { processes: 1, local: 2, layout: 'zigzag', c: { n: 1, lq: 48, lk: 48, h: 2, hk: 1, d: 8, dtype: 'bfloat16', isCausal: true, seed: 208 } },
];

async function singleDeviceErrors(c: Case) {
  const x = makeInputs(c);
  const ref = await reference(x);
  const single = flashMhaFwd(x.q, x.k, x.v, options(c));
  const g = flashMhaBwd(x.dout, x.q, x.k, x.v, single.out, single.lse, options(c));
  const values = (t: Tensor) => t.toFloat32Array();
  const refs: Record<Output, Float64Array> = { out: ref.o, lse: ref.lse, dq: ref.dq, dk: ref.dk, dv: ref.dv };
  const mine: Record<Output, Float32Array> = {
    out: await values(single.out),
    lse: await values(single.lse),
    dq: await values(g.dq),
    dk: await values(g.dk),
    dv: await values(g.dv),
  };
  const errors = Object.fromEntries((Object.keys(RING_BOUND) as Output[]).map((k) => [k, maxError(mine[k], refs[k])])) as Record<Output, number>;
  return { refs, errors };
}

describe('a ring across processes equals the single-device result (testing.md ring tolerance)', () => {
  for (const rc of CASES) {
    const w = rc.processes * rc.local;
    const label = `${rc.processes} process(es) x ${rc.local} rank(s) (W=${w}) ${rc.layout}${rc.ranks ? ` ranks ${JSON.stringify(rc.ranks)}` : ''} ${describeCase(rc.c)}`;
    test(label, async () => {
      const outcomes = await runRing(rc.processes, (p) => ({
        processes: rc.processes,
        local: rc.local,
        layout: rc.layout,
        case: rc.c,
        timeoutMs: 20_000,
        ...(rc.ranks ? { ranks: rc.ranks[p], worldSize: w } : {}),
      }));
      const { refs, errors: single } = await singleDeviceErrors(rc.c);
      let first: Record<Output, Float32Array> | undefined;
      outcomes.forEach((o, p) => {
        assert.ok(o.report?.ok, `process ${p}: ${o.report?.message ?? `exited with ${o.exitCode} and no report`}; ${label}`);
        assert.ok(o.exitedCleanly, `process ${p} did not exit by itself after disposing its group (a handle was left open); ${label}`);
        const expectedRanks = rc.ranks?.[p] ?? Array.from({ length: rc.local }, (_, i) => p * rc.local + i);
        assert.deepEqual(o.report!.ranks, expectedRanks, label);
        const results = o.report!.results!;
        // Every process all-gathers the same whole tensors (advanced IPC serialization keeps -Infinity).
        if (first) for (const name of Object.keys(RING_BOUND) as Output[]) assert.deepEqual(results[name], first[name], `process ${p} ${name}; ${label}`);
        first ??= results;
      });
      for (const name of Object.keys(RING_BOUND) as Output[]) {
        const ring = maxError(first![name], refs[name]);
        const { F, perDevice } = RING_BOUND[name];
        const bound = F * single[name] + perDevice * w;
        assert.ok(ring <= bound, `${name}: ring error ${ring.toExponential(3)} > ${F} x single-device ${single[name].toExponential(3)} + ${perDevice} x ${w}; ${label}`);
        if (rc.c.dtype === 'float32') {
          const scale = Math.max(0, ...Array.from(refs[name], (x) => (Number.isFinite(x) ? Math.abs(x) : 0)));
          assert.ok(ring <= 1e-5 * scale, `${name}: float32 ring error ${ring} > 1e-5 x ${scale}; ${label}`);
        }
      }
    });
  }
});
