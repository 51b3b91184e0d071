// A small ring on cuda:0 for compute-sanitizer (memcheck, initcheck): W = 4 virtual ranks, zigzag and
// contiguous, causal GQA bfloat16 and windowed float16, forward and backward, every ring operation.
//   compute-sanitizer --tool memcheck --error-exitcode 86 node dist/tests/ring/cuda-sanitize-run.js
import { type Tensor, flashMhaBwd, flashMhaFwd, gatherSequence, randn, shardSequence } from '../../src/index.js';
import type { SequenceLayout } from '../../src/ring/layout.js';
import { oneGpu } from './cuda-support.js';

const runs: { dtype: 'bfloat16' | 'float16'; h: number; hk: number; options: { isCausal?: boolean; windowSize?: [number, number] } }[] = [
  { dtype: 'bfloat16', h: 4, hk: 2, options: { isCausal: true } },
  { dtype: 'float16', h: 2, hk: 1, options: { windowSize: [20, 3] } },
];
for (const run of runs) {
  for (const layout of ['zigzag', 'contiguous'] as SequenceLayout[]) {
    const make = (heads: number, seed: number) => randn([1, 128, heads, 64], { seed, dtype: run.dtype, device: 'cuda:0' });
    const inputs = [make(run.h, 1), make(run.hk, 2), make(run.hk, 3), make(run.h, 4)];
    const [q, k, v, dout] = inputs.map((t: Tensor) => shardSequence(t, oneGpu(4), { layout }));
    const fwd = flashMhaFwd(q, k, v, run.options);
    const g = flashMhaBwd(dout, q, k, v, fwd.out, fwd.lse, run.options);
    const gathered = [fwd.out, fwd.lse, g.dq, g.dk, g.dv].map(gatherSequence);
    const data = await Promise.all(gathered.map((t) => t.toFloat32Array()));
    const nan = data.reduce((count, a) => count + a.filter(Number.isNaN).length, 0);
    console.log(`${run.dtype} ${layout} ${JSON.stringify(run.options)}: ${nan} NaN`);
    if (nan > 0) process.exitCode = 1;
    for (const t of [...inputs, q, k, v, dout, fwd.out, fwd.lse, g.dq, g.dk, g.dv, ...gathered]) t.dispose();
  }
}
