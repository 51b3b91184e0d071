// explain() on the CPU backend: it says the CPU runs TypeScript, and it rejects exactly what flashMha
// rejects, with the same error (one front door).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError, explain, flashMha, randn } from '../../src/index.js';

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
