// The first grid case through benchCase with the spin-up at 500 / 0 / 500 ms, logging for each timer request its
// calls, the host's us per call (enqueueing) and the device's us per call (bench/NOTES.md T4). From the repository
// root after npm run build, on a GPU: node bench/results/2026-12-03-h200-tail-order/first-case.mjs
import '../../../dist/src/index.js';
import { benchCase } from '../../../dist/src/cli/bench.js';
import { deviceTimer } from '../../../dist/src/cli/device-timer.js';
const t = await deviceTimer('cuda:0');
const log = [];
const timer = async (run, n) => {
  let host = 0;
  const w = () => { const a = performance.now(); run(); host += performance.now() - a; };
  const ms = await t(w, n);
  log.push([n, (1000 * host / n).toFixed(1), (1000 * ms.reduce((x, y) => x + y, 0) / n).toFixed(1)]);
  return ms;
};
const s = { device: 'cuda:0', dtype: 'bfloat16', repeats: 30, warmup: 5, inputSets: 4, timer };
for (const c of [{ n: 32, l: 512, h: 32, d: 64, causal: false }])
  for (const spin of [500, 0, 500]) {
    log.length = 0;
    const r = await benchCase(c, s, spin);
    console.log(`d ${c.d} spin ${spin}: fwd ${r.fwdMs.toFixed(3)} bwd ${r.bwdMs.toFixed(3)} ms; rounds [calls, host us/call, device us/call]: ${JSON.stringify(log)}`);
  }
process.exit(0);
