// Rings across processes on real GPUs: one process per GPU (initDistributed with NCCL, joinRing over
// cuda:p), each process computing its own ranks, against the single-GPU result on cuda:0 in this process
// (testing.md's ring rule). Runs only with 2+ CUDA devices and libnccl.so.2; otherwise skipped with the reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cudaBackend } from '../../src/backend/cuda/index.js';
import { type Tensor, flashMhaBwd, flashMhaFwd } from '../../src/index.js';
import type { SequenceLayout } from '../../src/ring/layout.js';
import { ncclAvailable } from '../../src/ring/nccl.js';
import { skipReason as gpuSkipReason } from './cuda-support.js';
import { runRing } from './distributed-launch.js';
import { type Case, describeCase, makeInputs, maxError, options, reference, RING_BOUND, type RingOutput as Output } from './support.js';

function findSkipReason(): string | false {
  if (gpuSkipReason) return gpuSkipReason;
  if (process.env.FLASH_ATTN_NCCL_LIBRARY) return 'FLASH_ATTN_NCCL_LIBRARY is set: these tests need the real libnccl.so.2';
  if (!ncclAvailable()) return 'libnccl.so.2 cannot be loaded here';
  const count = cudaBackend.deviceCount();
  if (count < 2) return `one process per GPU needs 2 or more CUDA devices, found ${count}`;
  return false;
}
const skipReason = findSkipReason();
if (skipReason && !gpuSkipReason) console.log(`# multi-process GPU ring tests skipped: ${skipReason}`);

interface GpuRingCase {
  processes: number;
  /** GPUs per process */
  local: number;
  layout: SequenceLayout;
  c: Case;
}

const gpuCount = skipReason ? 0 : cudaBackend.deviceCount();
const CASES: GpuRingCase[] = [
  { processes: 2, local: 1, layout: 'zigzag', c: { n: 1, lq: 512, lk: 512, h: 4, hk: 2, d: 128, dtype: 'bfloat16', isCausal: true, seed: 301 } },
  { processes: 2, local: 1, layout: 'contiguous', c: { n: 2, lq: 256, lk: 256, h: 2, hk: 1, d: 64, dtype: 'float16', windowSize: [30, 5], seed: 302 } },
  { processes: 2, local: 1, layout: 'zigzag', c: { n: 1, lq: 512, lk: 256, h: 2, hk: 1, d: 64, dtype: 'bfloat16', isCausal: true, seed: 303 } },
  // Two GPUs in each process where the machine has four or more.
  { processes: 2, local: 2, layout: 'zigzag', c: { n: 1, lq: 512, lk: 512, h: 4, hk: 1, d: 128, dtype: 'float16', isCausal: true, seed: 304 } },
].filter((rc) => rc.processes * rc.local <= Math.max(2, gpuCount)) as GpuRingCase[];

/** The single-GPU errors of each output against the float64 reference, and the reference itself. */
async function singleGpuErrors(c: Case) {
  const x = makeInputs(c);
  const ref = await reference(x);
  const onGpu = (t: Tensor) => t.to('cuda:0');
  const [q, k, v, dout] = await Promise.all([x.q, x.k, x.v, x.dout].map(onGpu));
  const single = flashMhaFwd(q, k, v, options(c));
  const g = flashMhaBwd(dout, q, k, v, single.out, single.lse, options(c));
  const refs: Record<Output, Float64Array> = { out: ref.o, lse: ref.lse, dq: ref.dq, dk: ref.dk, dv: ref.dv };
  const mine: Record<Output, Tensor> = { out: single.out, lse: single.lse, dq: g.dq, dk: g.dk, dv: g.dv };
  const errors = {} as Record<Output, number>;
  for (const name of Object.keys(RING_BOUND) as Output[]) errors[name] = maxError(await mine[name].toFloat32Array(), refs[name]);
  for (const t of [q, k, v, dout, ...Object.values(mine), x.q, x.k, x.v, x.dout]) t.dispose();
  return { refs, errors };
}

describe('a ring with one process per GPU (NCCL between processes) equals one GPU', () => {
  for (const rc of CASES) {
    const w = rc.processes * rc.local;
    const label = `${rc.processes} processes x ${rc.local} GPU(s) (W=${w}) ${rc.layout} ${describeCase(rc.c)}`;
    test(label, { skip: skipReason }, async () => {
      const outcomes = await runRing(rc.processes, () => ({
        processes: rc.processes,
        local: rc.local,
        deviceKind: 'cuda',
        layout: rc.layout,
        case: rc.c,
        timeoutMs: 60_000,
      }));
      const { refs, errors: single } = await singleGpuErrors(rc.c);
      let first: Record<Output, Float32Array> | undefined;
      outcomes.forEach((o, p) => {
        assert.ok(o.report?.ok, `process ${p}: ${o.report?.message ?? `exited with ${o.exitCode} and no report`}; ${label}`);
        assert.ok(o.exitedCleanly, `process ${p} did not exit by itself after disposing its group; ${label}`);
        assert.deepEqual(o.report!.ranks, Array.from({ length: rc.local }, (_, i) => p * rc.local + i), label);
        const results = o.report!.results!;
        if (first) for (const name of Object.keys(RING_BOUND) as Output[]) assert.deepEqual(results[name], first[name], `process ${p} ${name}; ${label}`);
        first ??= results;
      });
      const e = (x: number) => x.toExponential(2);
      const summary: string[] = [];
      for (const name of Object.keys(RING_BOUND) as Output[]) {
        const ring = maxError(first![name], refs[name]);
        const { F, perDevice } = RING_BOUND[name];
        const bound = F * single[name] + perDevice * w;
        summary.push(`${name} single ${e(single[name])} ring ${e(ring)}`);
        assert.ok(ring <= bound, `${name}: ring error ${e(ring)} > ${F} x single-GPU ${e(single[name])} + ${perDevice} x ${w}; ${label}`);
      }
      console.log(`# ${label}: ${summary.join('; ')}`);
    });
  }
});
