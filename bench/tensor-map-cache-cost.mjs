// Host microseconds per lookup in the tensor-map cache (src/backend/cuda/tensor-map-cache.ts) that finds its map: four
// geometries over four addresses, looked up in turn (bench/NOTES.md H1). No GPU needed.
// Usage, from the repository root after npm run build: node bench/tensor-map-cache-cost.mjs
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = resolve('dist');
const { TensorMapCache } = await import(pathToFileURL(`${dist}/src/backend/cuda/tensor-map-cache.js`).href);
const { attentionTensorMap } = await import(pathToFileURL(`${dist}/src/backend/cuda/tma.js`).href);
const maps = [64, 96, 128, 16].map((box) => attentionTensorMap({ n: 1, rows: 128, heads: 1, d: 128 }, box));
const addresses = [0, 1, 2, 3].map((i) => 0x7f0000001000n + BigInt(i) * 4096n);
const cache = new TensorMapCache();
const bytes = new Uint8Array(128);
for (let i = 0; i < 4; i++) cache.set(maps[i], addresses[i], bytes);
const LOOKUPS = 1_000_000;
const start = performance.now();
for (let i = 0; i < LOOKUPS; i++) cache.get(maps[i & 3], addresses[i & 3]);
console.log('lookup that finds its map:', ((performance.now() - start) * 1000 / LOOKUPS).toFixed(3), 'us');
