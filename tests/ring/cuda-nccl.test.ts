// Ring attention over several local GPUs through NCCL: the same results as one GPU (testing.md's ring
// rule) and bit for bit the same as the copy transport. Runs only where libnccl.so.2 loads and at least
// two CUDA devices exist; otherwise skipped with the reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cudaBackend } from '../../src/backend/cuda/index.js';
import { type Tensor, flashMhaBwd, flashMhaFwd, gatherSequence, randn, shardSequence } from '../../src/index.js';
import { ncclAvailable, ncclVersion } from '../../src/ring/nccl.js';
import { checkRingCase, disposeAll, skipReason as gpuSkipReason } from './cuda-support.js';

function findSkipReason(): string | false {
  if (gpuSkipReason) return gpuSkipReason;
  if (process.env.FLASH_ATTN_NCCL_LIBRARY) return `FLASH_ATTN_NCCL_LIBRARY is set (${process.env.FLASH_ATTN_NCCL_LIBRARY}); these tests need the real libnccl.so.2`;
  if (!ncclAvailable()) return 'libnccl.so.2 cannot be loaded here';
  const count = cudaBackend.deviceCount();
  if (count < 2) return `NCCL ${ncclVersion()} is here but only ${count} CUDA device (the NCCL ring needs 2 or more)`;
  return false;
}
const skipReason = findSkipReason();
if (skipReason) console.log(`# NCCL ring tests skipped: ${skipReason}`);

const gpus = (w: number) => Array.from({ length: w }, (_, i) => `cuda:${i}`);
const worldSizes = () => [2, 4, 8].filter((w) => w <= cudaBackend.deviceCount());

test('the NCCL ring over local GPUs equals one GPU (causal GQA bfloat16, window float16)', { skip: skipReason }, async () => {
  await checkRingCase({ n: 1, lq: 512, lk: 512, h: 4, hk: 2, d: 128, dtype: 'bfloat16', isCausal: true, seed: 21 }, worldSizes(), gpus);
  await checkRingCase({ n: 2, lq: 256, lk: 256, h: 2, hk: 1, d: 64, dtype: 'float16', windowSize: [30, 5], seed: 22 }, worldSizes(), gpus);
});

test('NCCL and the copy transport give identical bits', { skip: skipReason }, async () => {
  const w = Math.min(4, cudaBackend.deviceCount());
  const make = (heads: number, seed: number) => randn([1, 256, heads, 64], { seed, dtype: 'bfloat16', device: 'cuda:0' });
  const [q, k, v, dout] = [make(4, 1), make(2, 2), make(2, 3), make(4, 4)];
  const run = async () => {
    const shard = (t: Tensor) => shardSequence(t, gpus(w), { layout: 'zigzag' });
    const [sq, sk, sv, sdout] = [q, k, v, dout].map(shard);
    const fwd = flashMhaFwd(sq, sk, sv, { isCausal: true });
    const g = flashMhaBwd(sdout, sq, sk, sv, fwd.out, fwd.lse, { isCausal: true });
    const all = [fwd.out, fwd.lse, g.dq, g.dk, g.dv].map(gatherSequence);
    const data = await Promise.all(all.map((t) => t.data()));
    disposeAll(sq, sk, sv, sdout, fwd.out, fwd.lse, g.dq, g.dk, g.dv, ...all);
    return data;
  };
  const viaNccl = await run();
  process.env.FLASH_ATTN_RING_TRANSPORT = 'copy';
  try {
    assert.deepEqual(await run(), viaNccl);
  } finally {
    delete process.env.FLASH_ATTN_RING_TRANSPORT;
  }
  disposeAll(q, k, v, dout);
});
