// The per-device cache of encoded tensor maps (src/backend/cuda/tensor-map-cache.ts): it tells apart every argument a
// map depends on, keeps copies of what it is given, and forgets the oldest stored entry first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TENSOR_MAP_CACHE_ENTRIES, TensorMapCache, sameGeometry } from '../../src/backend/cuda/tensor-map-cache.js';
import { type TensorMapGeometry, attentionTensorMap } from '../../src/backend/cuda/tma.js';

const bytes = (x: number) => new Uint8Array(128).fill(x);
const base = attentionTensorMap({ n: 2, rows: 300, heads: 4, d: 128 }, 128);
/** base with one argument changed, each in its own way. */
const variants: TensorMapGeometry[] = [
  { ...base, elementBytes: 4 },
  attentionTensorMap({ n: 2, rows: 301, heads: 4, d: 128 }, 128),
  attentionTensorMap({ n: 3, rows: 300, heads: 4, d: 128 }, 128),
  attentionTensorMap({ n: 2, rows: 300, heads: 4, d: 128 }, 64),
  { ...base, globalStrides: [base.globalStrides[0], base.globalStrides[1], base.globalStrides[2] + 16] },
  { ...base, elementStrides: [1, 1, 1, 2] },
];

test('a map is found only for the same address and a geometry equal in every number', () => {
  const cache = new TensorMapCache();
  cache.set(base, 0x1000n, bytes(1));
  assert.deepEqual(cache.get({ ...base, globalDim: [...base.globalDim] as typeof base.globalDim }, 0x1000n), bytes(1), 'an equal geometry, another object');
  assert.equal(cache.get(base, 0x1100n), undefined, 'another address');
  for (const [i, other] of variants.entries()) {
    assert.equal(sameGeometry(base, other), false, `variant ${i}`);
    assert.equal(cache.get(other, 0x1000n), undefined, `variant ${i}`);
  }
  // Several geometries over one address are kept apart.
  variants.forEach((other, i) => cache.set(other, 0x1000n, bytes(10 + i)));
  variants.forEach((other, i) => assert.deepEqual(cache.get(other, 0x1000n), bytes(10 + i), `variant ${i}`));
  assert.deepEqual(cache.get(base, 0x1000n), bytes(1));
  assert.equal(cache.size, 1 + variants.length);
});

test('the cache keeps copies of the bytes and of the geometry it is given, and hands out its own bytes', () => {
  const cache = new TensorMapCache();
  const stored = bytes(1);
  const map = { ...base, boxDim: [...base.boxDim] as typeof base.boxDim };
  cache.set(map, 0x1000n, stored);
  stored.fill(9);
  (map.boxDim as unknown as number[])[1] = 7;
  assert.deepEqual(cache.get(base, 0x1000n), bytes(1), 'set copied both');
  assert.equal(cache.get(base, 0x1000n), cache.get(base, 0x1000n), 'no copy per lookup: the same bytes each time');
  cache.set(base, 0x1000n, bytes(5));
  assert.deepEqual(cache.get(base, 0x1000n), bytes(1), 'storing a known map again keeps the entry (the driver wrote the same bytes)');
  assert.equal(cache.size, 1);
});

test('adopt keeps the bytes it is handed without a copy, and returns the entry it already has', () => {
  const cache = new TensorMapCache();
  const handed = bytes(3);
  assert.equal(cache.adopt(base, 0x1000n, handed), handed, 'the handed bytes are the entry');
  assert.equal(cache.get(base, 0x1000n), handed);
  assert.equal(cache.adopt(base, 0x1000n, bytes(4)), handed, 'a known map keeps its entry');
  assert.equal(cache.size, 1);
});

test('a full cache forgets the oldest stored entry first', () => {
  const cache = new TensorMapCache(3);
  for (const address of [1n, 2n, 3n]) cache.set(base, address, bytes(Number(address)));
  assert.ok(cache.get(base, 1n), 'finding an entry does not keep it longer');
  cache.set(base, 4n, bytes(4));
  assert.equal(cache.get(base, 1n), undefined, 'the first stored went');
  assert.deepEqual([2n, 3n, 4n].map((a) => cache.get(base, a)), [bytes(2), bytes(3), bytes(4)]);
  cache.set(variants[0], 2n, bytes(20));
  assert.equal(cache.get(base, 2n), undefined, 'then the second');
  assert.deepEqual(cache.get(variants[0], 2n), bytes(20));
  assert.equal(cache.size, 3);
  assert.equal(new TensorMapCache().capacity, TENSOR_MAP_CACHE_ENTRIES);
  for (const bad of [0, -1, 2.5]) assert.throws(() => new TensorMapCache(bad), RangeError);
});
