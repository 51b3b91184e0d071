import { flashMhaBwd, flashMhaFwd } from '../attention.js';
import { attentionProblem } from '../params.js';
import { type RowValues, attentionRow, rounding, toleranceRule } from '../check.js';
import { parseDevice } from '../device.js';
import type { Dtype } from '../dtype.js';
import { backwardFlops, forwardFlops } from '../flops.js';
import { checkDevice, randn } from '../tensor.js';

interface DemoProblem {
  n: number;
  l: number;
  h: number;
  hk: number;
  d: number;
  dtype: Dtype;
}

function problemFor(device: string, dtype?: Dtype): DemoProblem {
  const problem: DemoProblem = parseDevice(device).kind === 'cuda'
    ? { n: 2, l: 4096, h: 16, hk: 4, d: 128, dtype: 'bfloat16' }
    : { n: 1, l: 1024, h: 8, hk: 2, d: 64, dtype: 'float32' };
  return { ...problem, dtype: dtype ?? problem.dtype };
}

/** Runs causal grouped-query attention forward and backward, checks sampled rows, prints times. */
export async function demo(device: string, log: (line: string) => void, dtypeOverride?: Dtype): Promise<boolean> {
  checkDevice(device, '--device');  // a device that is not there fails before the demo's header, not after it
  const { n, l, h, hk, d, dtype } = problemFor(device, dtypeOverride);
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
  // Sampled rows, checked with the tolerance rule of testing.md (F = 2 for o and lse, 3 for dq).
  const rows = [0, 1, l >> 1, l - 1];
  const gather = { o: [] as number[], lse: [] as number[], dq: [] as number[] };
  const exact = { o: [] as number[], lse: [] as number[], dq: [] as number[] };
  const naive = { o: [] as number[], lse: [] as number[], dq: [] as number[] };
  const add = (into: typeof exact, row: RowValues) => {
    into.o.push(...row.o);
    into.lse.push(row.lse);
    into.dq.push(...row.dq);
  };
  // The first and last batch and head, each once (n = 1 has one batch).
  const batches = [...new Set([0, n - 1])];
  const heads = [...new Set([0, h - 1])];
  const sampled = batches.length * heads.length * rows.length;
  for (const b of batches) for (const head of heads) for (const i of rows) {
    const offset = ((b * l + i) * h + head) * d;
    gather.o.push(...o.subarray(offset, offset + d));
    gather.dq.push(...dq.subarray(offset, offset + d));
    gather.lse.push(lseValues[(b * h + head) * l + i]);
    add(exact, attentionRow(p, inputs, b, head, i, (x) => x));
    add(naive, attentionRow(p, inputs, b, head, i, rounding(dtype)));
  }
  let ok = true;
  for (const [name, F] of [['o', 2], ['lse', 2], ['dq', 3]] as const) {
    const r = toleranceRule(gather[name], naive[name], exact[name], dtype, F);
    ok &&= r.ok;
    const baseline = dtype === 'float32' ? '' : `, naive ${dtype} error ${r.lowPrecisionError.toExponential(2)}`;
    log(`  check ${name.padEnd(3)} of ${sampled} sampled rows vs float64: max error ${r.error.toExponential(2)}${baseline}, bound ${r.bound.toExponential(2)} ${r.ok ? 'passed' : 'FAILED'}`);
  }
  return ok;
}
