// Global ranks of a ring spanning several processes (runs everywhere: no GPU or NCCL needed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OptionError } from '../../src/errors.js';
import { globalRanks } from '../../src/ring/cuda-distributed.js';

test('each process numbers its local GPUs after those of the processes before it', () => {
  assert.deepEqual(globalRanks({ rank: 0, worldSize: 2 }, 4), { ranks: [0, 1, 2, 3], worldSize: 8 });
  assert.deepEqual(globalRanks({ rank: 1, worldSize: 2 }, 4), { ranks: [4, 5, 6, 7], worldSize: 8 });
  assert.deepEqual(globalRanks({ rank: 2, worldSize: 3 }, 1), { ranks: [2], worldSize: 3 });
});

test('explicit ranks and ring size (processes with different GPU counts) are checked', () => {
  assert.deepEqual(globalRanks({ rank: 1, worldSize: 2 }, 2, { ranks: [3, 4], worldSize: 5 }), { ranks: [3, 4], worldSize: 5 });
  assert.throws(() => globalRanks({ rank: 0, worldSize: 2 }, 2, { ranks: [0, 0], worldSize: 4 }), OptionError);
  assert.throws(() => globalRanks({ rank: 0, worldSize: 2 }, 2, { ranks: [0, 4], worldSize: 4 }), OptionError);
  assert.throws(() => globalRanks({ rank: 0, worldSize: 2 }, 2, { ranks: [0], worldSize: 4 }), OptionError);
  assert.throws(() => globalRanks({ rank: 0, worldSize: 1 }, 3, { worldSize: 2 }), OptionError);
});

test('null ranks or worldSize is refused, not taken for the default', () => {
  const ctx = { rank: 0, worldSize: 2 };
  assert.throws(() => globalRanks(ctx, 2, { worldSize: null as never }), (e: unknown) => e instanceof OptionError && /^worldSize: .* got null$/.test(e.message));
  assert.throws(() => globalRanks(ctx, 2, { ranks: null as never }), (e: unknown) => e instanceof OptionError && /^ranks: .* got null$/.test(e.message));
  assert.throws(() => globalRanks(ctx, 2, { ranks: 7 as never }), (e: unknown) => e instanceof OptionError && /^ranks: .* got 7$/.test(e.message));
  assert.deepEqual(globalRanks(ctx, 2, { ranks: undefined, worldSize: undefined }), { ranks: [0, 1], worldSize: 4 });
});
