// One small forward + backward per compiled (dtype, head dim), for compute-sanitizer (see sanitize.sh).
// Shapes are odd on purpose: partial tiles in lq and lk, grouped-query heads, a causal window.
import { kernelManifest } from '../../src/backend/cuda/table.js';
import { flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';

// Optional filter: comma-separated dtype:headDim pairs, like float16:64,bfloat16:256.
const only = process.argv[2]?.split(',');
const variants = new Map<string, { dtype: 'float16' | 'bfloat16'; headDim: number }>();
for (const k of kernelManifest().kernels) variants.set(`${k.dtype}:${k.headDim}`, { dtype: k.dtype, headDim: k.headDim });

for (const { dtype, headDim } of variants.values()) {
  if (only && !only.includes(`${dtype}:${headDim}`)) continue;
  for (const d of new Set([headDim, headDim - 7])) {
    const q = randn([1, 70, 2, d], { seed: 1, dtype, device: 'cuda' });
    const k = randn([1, 90, 1, d], { seed: 2, dtype, device: 'cuda' });
    const v = randn([1, 90, 1, d], { seed: 3, dtype, device: 'cuda' });
    const opts = { isCausal: true, windowSize: [40, -1] as [number, number] };
    const { out, lse } = flashMhaFwd(q, k, v, opts);
    const g = flashMhaBwd(out, q, k, v, out, lse, opts);
    // Not a check of values (the GPU suites do that), but a run whose outputs hold NaN fails sanitize.sh too.
    const outputs = await Promise.all([out, lse, g.dq, g.dk, g.dv].map((t) => t.toFloat32Array()));
    const nan = outputs.reduce((count, a) => count + a.filter(Number.isNaN).length, 0);
    console.log(`${dtype} d=${d}: ran fwd + bwd, ${nan} NaN in o, lse, dq, dk, dv`);
    if (nan > 0) process.exitCode = 1;
    for (const t of [q, k, v, out, lse, g.dq, g.dk, g.dv]) t.dispose();
  }
}
