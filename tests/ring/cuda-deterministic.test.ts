// Ring attention's backward with deterministic: true on W virtual ranks of cuda:0 is bitwise repeatable: each
// pair's backward is, and the ring adds the pairs' gradients in an order the schedule fixes (see
// src/ring/backward.ts). Skipped without a CUDA device and built kernels, or, with a printed reason, when the
// kernels have no bwd_dq_det.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Tensor, flashMhaBwd, flashMhaFwd, gatherSequence, randn, shardSequence } from '../../src/index.js';
import { bitsEqual, deterministicKernelsMissing } from '../cuda/gpu.js';
import { disposeAll, oneGpu, skipReason } from './cuda-support.js';

const skip = skipReason || deterministicKernelsMissing();
if (skip && !skipReason) console.log(`# deterministic ring test skipped: ${skip}`);

const RUNS = 5;

test(`ring backward with deterministic: true on 4 virtual ranks of cuda:0: ${RUNS} runs, identical bits`, { skip }, async () => {
  const make = (heads: number, seed: number) => randn([1, 512, heads, 64], { seed, dtype: 'bfloat16', device: 'cuda:0' });
  const [q0, k0, v0, dout0] = [make(8, 31), make(2, 32), make(2, 33), make(8, 34)];
  const shard = (t: Tensor) => shardSequence(t, oneGpu(4), { layout: 'zigzag' });
  const [q, k, v, dout] = [q0, k0, v0, dout0].map(shard);
  const options = { isCausal: true, deterministic: true };
  const fwd = flashMhaFwd(q, k, v, options);
  let first: ArrayBufferView[] | undefined;
  for (let run = 0; run < RUNS; run++) {
    const g = flashMhaBwd(dout, q, k, v, fwd.out, fwd.lse, options);
    const gathered = [g.dq, g.dk, g.dv].map((s) => gatherSequence(s));
    const now = await Promise.all(gathered.map((t) => t.data()));
    disposeAll(g.dq, g.dk, g.dv, ...gathered);
    if (!first) first = now;
    else ['dq', 'dk', 'dv'].forEach((name, i) => assert.ok(bitsEqual(now[i], first![i]), `${name} differs between run 0 and run ${run}`));
  }
  disposeAll(q, k, v, dout, fwd.out, fwd.lse, q0, k0, v0, dout0);
});
