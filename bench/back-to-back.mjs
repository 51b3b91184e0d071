// Device microseconds per call two ways: with an event recorded after every call (as `flash-attn bench` times), and
// with CALLS calls enqueued back to back between one pair of events (as a model's layers run). Run it once with
// FLASH_ATTN_PDL=0 and once without to see what programmatic dependent launch saves at the calls' boundaries.
// Usage, on a GPU, from the repository root after npm run build: node bench/back-to-back.mjs [CALLS, default 100]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = resolve('dist');
const calls = Number(process.argv[2] ?? 100);
const { flashMhaFwd, flashMhaBwd, randn } = await import(pathToFileURL(`${dist}/src/index.js`).href);
const { timeOnDevice } = await import(pathToFileURL(`${dist}/src/backend/cuda/timing.js`).href);
const { cudaDevice } = await import(pathToFileURL(`${dist}/src/backend/cuda/runtime.js`).href);
const { CU_EVENT_DEFAULT } = await import(pathToFileURL(`${dist}/src/backend/cuda/driver.js`).href);

const gpu = cudaDevice('cuda:0');

/** Mean device microseconds per call of `calls` calls between one pair of events. */
async function backToBack(run) {
  const [start, end] = [gpu.createEvent(CU_EVENT_DEFAULT), gpu.createEvent(CU_EVENT_DEFAULT)];
  try {
    gpu.recordEvent(start);
    for (let i = 0; i < calls; i++) run();
    gpu.recordEvent(end);
    await gpu.whenComplete(end);
    return (1000 * gpu.elapsedMilliseconds(start, end)) / calls;
  } finally {
    gpu.destroyEvent(start);
    gpu.destroyEvent(end);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`FLASH_ATTN_PDL=${process.env.FLASH_ATTN_PDL ?? '(unset)'}; device can overlap launches: ${gpu.canOverlapLaunches}; ${calls} calls`);
for (const [d, l, causal] of [[64, 512, false], [128, 512, true], [128, 512, false], [256, 512, false]]) {
  const [n, h] = [16384 / l, 2048 / d];
  const [q, k, v, dout] = [1, 2, 3, 4].map((seed) => randn([n, l, h, d], { seed, dtype: 'bfloat16', device: 'cuda' }));
  const forward = () => {
    const { out, lse } = flashMhaFwd(q, k, v, { isCausal: causal });
    out.dispose();
    lse.dispose();
  };
  const { out, lse } = flashMhaFwd(q, k, v, { isCausal: causal });
  const backward = () => {
    const g = flashMhaBwd(dout, q, k, v, out, lse, { isCausal: causal });
    g.dq.dispose();
    g.dk.dispose();
    g.dv.dispose();
  };
  const line = [];
  for (const [name, run] of [['fwd', forward], ['bwd', backward]]) {
    for (let i = 0; i < 20; i++) run();
    const perEvent = [];
    const joined = [];
    for (let round = 0; round < 5; round++) {
      perEvent.push(1000 * median(await timeOnDevice('cuda:0', run, calls)));
      joined.push(await backToBack(run));
    }
    line.push(`${name} ${median(perEvent).toFixed(1)} us with an event per call, ${median(joined).toFixed(1)} back to back`);
  }
  console.log(`d = ${d} l = ${l}${causal ? ' causal' : ''}: ${line.join('; ')}`);
  for (const t of [q, k, v, dout, out, lse]) t.dispose();
}
process.exit(0);
