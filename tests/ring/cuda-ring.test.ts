// Ring attention on one GPU with the copy transport: W virtual ranks on cuda:0 (W in 1, 2, 4, 8),
// contiguous and zigzag, no mask / causal / windows / lq != lk, GQA and MQA, bfloat16 and float16,
// forward and backward. testing.md's ring rule: the ring's error against the float64 reference is within
// F x the single-device (CUDA) error plus c x W. Skipped without a CUDA device and built kernels.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cudaDevice } from '../../src/backend/cuda/runtime.js';
import { type Tensor, flashMhaBwd, flashMhaFwd, gatherSequence, randn, shardSequence } from '../../src/index.js';
import { LAYOUTS, RING_CASES, checkRingCase, disposeAll, oneGpu, skipReason } from './cuda-support.js';
import { describeCase } from './support.js';

const WORLD_SIZES = [1, 2, 4, 8];

describe('ring attention on one GPU (W virtual ranks on cuda:0) equals the single-GPU result', () => {
  for (const c of RING_CASES) test(describeCase(c), { skip: skipReason }, () => checkRingCase(c, WORLD_SIZES, oneGpu));
});

test('shardSequence of a CUDA tensor and gatherSequence round-trip bit for bit', { skip: skipReason }, async () => {
  const t = randn([2, 96, 3, 40], { seed: 9, dtype: 'bfloat16', device: 'cuda:0' });
  const whole = await t.data();
  for (const layout of LAYOUTS) {
    for (const w of [1, 3, 4]) {
      const s = shardSequence(t, oneGpu(w), { layout });
      const back = gatherSequence(s);
      assert.deepEqual(await back.data(), whole, `${layout} W=${w}`);
      disposeAll(s, back);
    }
  }
  t.dispose();
});

test('a ring forward and backward leave no device memory behind', { skip: skipReason }, async () => {
  const gpu = cudaDevice('cuda:0');
  const make = (heads: number, seed: number) => randn([1, 128, heads, 64], { seed, dtype: 'bfloat16', device: 'cuda:0' });
  const [q, k, v, dout] = [make(4, 1), make(2, 2), make(2, 3), make(4, 4)];
  const shard = (t: Tensor) => shardSequence(t, oneGpu(4), { layout: 'zigzag' });
  const run = () => {
    const [sq, sk, sv, sdout] = [q, k, v, dout].map(shard);
    const fwd = flashMhaFwd(sq, sk, sv, { isCausal: true });
    const g = flashMhaBwd(sdout, sq, sk, sv, fwd.out, fwd.lse, { isCausal: true });
    disposeAll(sq, sk, sv, sdout, fwd.out, fwd.lse, g.dq, g.dk, g.dv);
  };
  run();
  gpu.synchronize();
  const before = gpu.memoryInUse();
  run();
  gpu.synchronize();
  assert.equal(gpu.memoryInUse(), before);
  disposeAll(q, k, v, dout);
});
