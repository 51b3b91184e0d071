// A call's batch in launches of at most 65535 entries (CUDA's gridDim.z): the chunks cover it once, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_BATCH_PER_LAUNCH, batchChunks } from '../../src/backend/cuda/batch-chunks.js';

test('batchChunks: one chunk up to 65535 entries, then chunks of 65535 and the rest, covering the batch once in order', () => {
  assert.equal(MAX_BATCH_PER_LAUNCH, 65535);
  assert.deepEqual(batchChunks(0), [{ start: 0, n: 0 }]);
  assert.deepEqual(batchChunks(65535), [{ start: 0, n: 65535 }]);
  assert.deepEqual(batchChunks(65536), [{ start: 0, n: 65535 }, { start: 65535, n: 1 }]);
  assert.deepEqual(batchChunks(2 * 65535), [{ start: 0, n: 65535 }, { start: 65535, n: 65535 }]);
  for (const n of [1, 7, 65534, 65537, 200000, 3 * 65535 + 11]) {
    const chunks = batchChunks(n);
    assert.equal(chunks.reduce((sum, c) => sum + c.n, 0), n, `n = ${n}`);
    chunks.forEach((c, i) => {
      assert.equal(c.start, i === 0 ? 0 : chunks[i - 1].start + chunks[i - 1].n, `n = ${n}: contiguous`);
      assert.ok(c.n >= 1 && c.n <= MAX_BATCH_PER_LAUNCH, `n = ${n}: chunk ${i} of ${c.n}`);
    });
  }
});
