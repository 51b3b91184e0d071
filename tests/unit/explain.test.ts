// explain() on the CPU backend: it says the CPU runs TypeScript, and it rejects exactly what flashMha
// rejects, with the same error (one front door). On CUDA, the reason it gives for the forward's and the
// backward's families (the fake-driver runs are in cuda-hopper.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KernelEntry } from '../../src/backend/cuda/table.js';
import { planReason } from '../../src/backend/cuda/plan.js';
import { ShapeError, explain, flashMha, randn, shardSequence } from '../../src/index.js';

test('explain on the CPU: no GPU kernel, the tiled TypeScript forward and backward', () => {
  const q = randn([1, 16, 2, 32], { seed: 1, device: 'cpu:1' });
  assert.deepEqual(explain(q, q, q, { isCausal: true }), {
    backend: 'cpu',
    device: 'cpu:1',
    forward: ['cpu: tiled forward in TypeScript (src/backend/cpu/forward.ts)'],
    backward: ['cpu: tiled backward in TypeScript (src/backend/cpu/backward.ts)'],
    reason: 'the CPU backend runs TypeScript on the host; no GPU kernel is involved',
  });
});

test('explain refuses sharded inputs, which flashMha takes, saying why and what names the kernels of a ring', () => {
  const devices = ['cpu:0', 'cpu:1'];
  const q = randn([1, 8, 2, 16], { seed: 1 });
  const sq = shardSequence(q, devices);
  assert.throws(
    () => explain(sq as never, sq as never, sq as never),
    (e: unknown) => e instanceof ShapeError && /^q: explain takes one device's tensors, got a ShardedTensor; .*FLASH_ATTN_LOG=1/.test(e.message),
  );
  assert.throws(() => explain(q, shardSequence(q, devices) as never, q), (e: unknown) => e instanceof ShapeError && /^k: explain takes one device's tensors/.test(e.message));
});

test('explain validates like flashMha: same error class and message', () => {
  const q = randn([1, 8, 2, 64], { dtype: 'float16' });
  const bad = randn([1, 8, 2, 32], { dtype: 'float16' });
  const cases: [string, () => unknown, () => unknown][] = [
    ['d mismatch', () => flashMha(q, bad, bad), () => explain(q, bad, bad)],
    ['unknown option', () => flashMha(q, q, q, { causal: true } as never), () => explain(q, q, q, { causal: true } as never)],
    ['bad window', () => flashMha(q, q, q, { windowSize: [-2, 0] }), () => explain(q, q, q, { windowSize: [-2, 0] })],
  ];
  for (const [name, call, explained] of cases) {
    const thrown = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return error as Error;
      }
      assert.fail(`${name}: no error`);
    };
    const [a, b] = [thrown(call), thrown(explained)];
    assert.equal(b.constructor, a.constructor, name);
    assert.equal(b.message, a.message, name);
  }
  assert.throws(() => explain(q, bad, bad), ShapeError);
  const disposed = randn([1, 8, 2, 64], { dtype: 'float16' });
  disposed.dispose();
  assert.throws(() => explain(disposed, q, q), /disposed/);
});

// --- the CUDA reason ---

const hopper = (phase: 'fwd' | 'bwd') => {
  const entry: KernelEntry = {
    file: 'f.fatbin', symbol: `flash_${phase}90_bf16_d128`, arch: 'sm_90a', phase, dtype: 'bfloat16', headDim: 128,
    threads: 384, smemBytes: 1000, tileRows: 128, keyTileRows: 128, gridRows: phase === 'fwd' ? 'lq' : 'lk', gridHeads: phase === 'fwd' ? 'h' : 'hk',
  };
  return { arch: 'sm_90a', entry, maps: {} } as never;
};
const sm80 = (reason: string) => ({ arch: 'sm_80', reason }) as const;

test("explain's CUDA reason covers the forward and the backward, once where both fall back for the same reason", () => {
  assert.equal(planReason(hopper('fwd'), hopper('bwd')), 'compute capability 9.0: the Hopper forward and backward (sm_90a) apply');
  assert.equal(planReason(sm80('FLASH_ATTN_KERNELS=sm80'), sm80('FLASH_ATTN_KERNELS=sm80')), 'the sm_80 forward and backward: FLASH_ATTN_KERNELS=sm80');
  assert.equal(
    planReason(hopper('fwd'), sm80('no sm_90a backward is compiled for bfloat16, d = 192')),
    'compute capability 9.0: the Hopper forward (sm_90a) applies; the sm_80 backward: no sm_90a backward is compiled for bfloat16, d = 192',
  );
  assert.equal(
    planReason(sm80('no sm_90a forward is compiled for bfloat16, d = 128'), hopper('bwd')),
    'compute capability 9.0: the sm_80 forward: no sm_90a forward is compiled for bfloat16, d = 128; the Hopper backward (sm_90a) applies',
  );
});
