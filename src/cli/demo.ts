import { flashMhaBwd, flashMhaFwd } from '../attention.js';
import { attentionProblem } from '../params.js';
import { referenceRow } from '../check.js';
import { parseDevice } from '../device.js';
import type { Dtype } from '../dtype.js';
import { backwardFlops, forwardFlops } from '../flops.js';
import { randn } from '../tensor.js';

/** Spot-check bound on max|x - x64| / max|x64| per dtype: a few units of the format's precision. */
const SAMPLE_TOLERANCE: Record<Dtype, number> = { float32: 1e-5, float16: 4e-3, bfloat16: 3e-2 };

interface DemoProblem {
  n: number;
  l: number;
  h: number;
  hk: number;
  d: number;
  dtype: Dtype;
}

function problemFor(device: string): DemoProblem {
  return parseDevice(device).kind === 'cuda'
    ? { n: 2, l: 4096, h: 16, hk: 4, d: 128, dtype: 'bfloat16' }
    : { n: 1, l: 1024, h: 8, hk: 2, d: 64, dtype: 'float32' };
}

function relativeError(got: Float32Array, gotOffset: number, want: Float64Array): number {
  let err = 0;
  let scale = 0;
  for (let x = 0; x < want.length; x++) {
    err = Math.max(err, Math.abs(got[gotOffset + x] - want[x]));
    scale = Math.max(scale, Math.abs(want[x]));
  }
  return scale === 0 ? err : err / scale;
}

/** Runs causal grouped-query attention forward and backward, checks sampled rows, prints times. */
export async function demo(device: string, log: (line: string) => void): Promise<boolean> {
  const { n, l, h, hk, d, dtype } = problemFor(device);
  log(`flash-attn demo on ${device} (${parseDevice(device).kind} backend): causal grouped-query attention`);
  log(`  q [${n}, ${l}, ${h}, ${d}], k and v [${n}, ${l}, ${hk}, ${d}], ${dtype}`);
  const opts = { dtype, device };
  using q = randn([n, l, h, d], { ...opts, seed: 1 });
  using k = randn([n, l, hk, d], { ...opts, seed: 2 });
  using v = randn([n, l, hk, d], { ...opts, seed: 3 });
  using dout = randn([n, l, h, d], { ...opts, seed: 4 });

  let start = performance.now();
  const { out, lse } = flashMhaFwd(q, k, v, { isCausal: true });
  const o = await out.toFloat32Array();
  const fwdMs = performance.now() - start;
  start = performance.now();
  const g = flashMhaBwd(dout, q, k, v, out, lse, { isCausal: true });
  const dq = await g.dq.toFloat32Array();
  const bwdMs = performance.now() - start;
  const lseValues = await lse.toFloat32Array();
  for (const t of [out, lse, g.dq, g.dk, g.dv]) t.dispose();

  // The first call includes one-time setup (module loading on a GPU); `flash-attn bench` times warm runs.
  const gflops = (flops: number, ms: number) => (flops / (ms / 1e3) / 1e9).toFixed(1);
  log(`  forward  ${fwdMs.toFixed(1)} ms (${gflops(forwardFlops(n, h, l, l, d, true), fwdMs)} GFLOP/s, first call)`);
  log(`  backward ${bwdMs.toFixed(1)} ms (${gflops(backwardFlops(n, h, l, l, d, true), bwdMs)} GFLOP/s, first call)`);

  const p = attentionProblem(q, k, v, { isCausal: true });
  const inputs = {
    q: await q.toFloat32Array(),
    k: await k.toFloat32Array(),
    v: await v.toFloat32Array(),
    dout: await dout.toFloat32Array(),
  };
  const rows = [0, 1, l >> 1, l - 1];
  let worst = 0;
  for (const b of [0, n - 1]) for (const head of [0, h - 1]) for (const i of rows) {
    const ref = referenceRow(p, inputs, b, head, i);
    const offset = ((b * l + i) * h + head) * d;
    const lseErr = Math.abs(lseValues[(b * h + head) * l + i] - ref.lse) / Math.max(1, Math.abs(ref.lse));
    worst = Math.max(worst, relativeError(o, offset, ref.o), relativeError(dq, offset, ref.dq), lseErr);
  }
  const ok = worst <= SAMPLE_TOLERANCE[dtype];
  log(`  check: o, lse and dq of ${rows.length * 4} sampled rows against float64: max relative error ${worst.toExponential(2)} (bound ${SAMPLE_TOLERANCE[dtype]}) ${ok ? 'passed' : 'FAILED'}`);
  return ok;
}
