// The per-device cache of encoded tensor maps (src/backend/cuda/tensor-map-cache.ts): its key tells apart every
// argument a map depends on, and it forgets the least recently used map first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TENSOR_MAP_CACHE_ENTRIES, TensorMapCache, tensorMapKey } from '../../src/backend/cuda/tensor-map-cache.js';
import { attentionTensorMap } from '../../src/backend/cuda/tma.js';

const bytes = (x: number) => new Uint8Array(128).fill(x);

test('tensorMapKey differs whenever an argument of the encode differs', () => {
  const base = attentionTensorMap({ n: 2, rows: 300, heads: 4, d: 128 }, 128);
  const keys = [
    tensorMapKey(base, 0x1000n),
    tensorMapKey(base, 0x1100n),
    tensorMapKey({ ...base, elementBytes: 4 }, 0x1000n),
    tensorMapKey(attentionTensorMap({ n: 2, rows: 301, heads: 4, d: 128 }, 128), 0x1000n),
    tensorMapKey(attentionTensorMap({ n: 2, rows: 300, heads: 4, d: 128 }, 64), 0x1000n),
    tensorMapKey({ ...base, globalStrides: [base.globalStrides[0], base.globalStrides[1], base.globalStrides[2] + 16] }, 0x1000n),
    tensorMapKey({ ...base, elementStrides: [1, 1, 1, 2] }, 0x1000n),
  ];
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(tensorMapKey({ ...base }, 0x1000n), keys[0], 'equal arguments, equal keys');
});

test('TensorMapCache keeps copies and forgets the least recently used entry first', () => {
  const cache = new TensorMapCache(2);
  const a = bytes(1);
  cache.set('a', a);
  a.fill(9);
  assert.deepEqual(cache.get('a'), bytes(1), 'set kept a copy');
  cache.get('a')?.fill(9);
  assert.deepEqual(cache.get('a'), bytes(1), 'get gave a copy');
  cache.set('b', bytes(2));
  assert.ok(cache.get('a'), 'a used after b was set');
  cache.set('c', bytes(3));
  assert.equal(cache.get('b'), undefined, 'b, the least recently used, went');
  assert.deepEqual([cache.get('a'), cache.get('c')], [bytes(1), bytes(3)]);
  assert.equal(cache.size, 2);
  cache.set('c', bytes(4));
  assert.equal(cache.size, 2, 'setting a key again replaces its entry');
  assert.deepEqual(cache.get('c'), bytes(4));
  assert.equal(new TensorMapCache().capacity, TENSOR_MAP_CACHE_ENTRIES);
});
