// The host's cost of one call: microseconds to enqueue a forward (and a backward) of a problem too small for the
// device to be the bound (n = 1, l = 128, one head), per head dim, after a warm-up. Usage, on a GPU, from the
// repository root after npm run build: node bench/host-cost.mjs [DIST_DIR, default dist] [CALLS, default 2000]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = resolve(process.argv[2] ?? 'dist');
const calls = Number(process.argv[3] ?? 2000);
const { flashMhaFwd, flashMhaBwd, randn } = await import(pathToFileURL(`${dist}/src/index.js`).href);
const { synchronize } = await import(pathToFileURL(`${dist}/src/backend/cuda/timing.js`).href);

function perCall(run) {
  for (let i = 0; i < 200; i++) run();
  synchronize('cuda:0');
  const start = performance.now();
  for (let i = 0; i < calls; i++) run();
  const us = (1000 * (performance.now() - start)) / calls;
  synchronize('cuda:0');
  return us;
}

for (const d of [64, 128, 256]) {
  const [q, k, v, dout] = [1, 2, 3, 4].map((seed) => randn([1, 128, 1, d], { seed, dtype: 'bfloat16', device: 'cuda' }));
  const fwd = perCall(() => {
    const { out, lse } = flashMhaFwd(q, k, v);
    out.dispose();
    lse.dispose();
  });
  const { out, lse } = flashMhaFwd(q, k, v);
  const bwd = perCall(() => {
    const g = flashMhaBwd(dout, q, k, v, out, lse);
    g.dq.dispose();
    g.dk.dispose();
    g.dv.dispose();
  });
  console.log(`${dist} d = ${d}: forward ${fwd.toFixed(1)} us a call, backward ${bwd.toFixed(1)} us a call (host, enqueueing)`);
  for (const t of [q, k, v, dout, out, lse]) t.dispose();
}
process.exit(0);
