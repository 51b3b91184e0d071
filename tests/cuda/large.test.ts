// 64-bit offsets: a forward pass over tensors of more than 2^31 elements runs without an illegal address
// and gives the right rows at the far end. The inputs repeat a chunk of 13 batches (13 does not divide
// 2^31 / (l h d), so an offset wrapped at 32 bits would land on different data and be caught).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CUdeviceptr } from '../../src/backend/cuda/driver.js';
import { CudaStorage } from '../../src/backend/cuda/storage.js';
import { Tensor, flashMhaFwd, randn } from '../../src/index.js';
import { referenceForward } from '../support/reference.js';
import { naiveLowPrecision, reproOf, toleranceFailures } from './accuracy.js';
import { bitsEqual, disposeAll, gpu, skipReason, storageOf } from './gpu.js';

const [N, L, H, D] = [16400, 128, 8, 128];
const CHUNK = 13;
const DTYPE = 'bfloat16';

test(`forward over ${N * L * H * D} elements (> 2^31) per tensor, checked on sampled batches`, { skip: skipReason }, async (t) => {
  assert.ok(N * L * H * D > 2 ** 31);
  const device = gpu();
  const batchElements = L * H * D;
  const chunks = [0, 1, 2].map((i) => randn([CHUNK, L, H, D], { seed: 500 + i, dtype: DTYPE, device: 'cuda' }));
  const big = chunks.map((chunk) => {
    const storage = CudaStorage.allocate(device, DTYPE, N * batchElements);
    const chunkBytes = CHUNK * batchElements * 2;
    for (let b = 0; b < N; b += CHUNK) {
      const bytes = Math.min(CHUNK, N - b) * batchElements * 2;
      device.copyOnDevice((storage.pointer + BigInt(b * batchElements * 2)) as CUdeviceptr, storageOf(chunk).pointer, Math.min(bytes, chunkBytes));
    }
    return new Tensor(storage, [N, L, H, D]);
  });
  const [q, k, v] = big;
  const { out, lse } = flashMhaFwd(q, k, v, { isCausal: true });

  const slice = (t: Tensor, b: number, shape: number[], bytesPerBatch: number, dtype: 'bfloat16' | 'float32') =>
    Tensor.fromDevicePointer(storageOf(t).pointer + BigInt(b) * BigInt(bytesPerBatch), shape, dtype, 'cuda');
  const oSlice = (b: number) => slice(out, b, [1, L, H, D], batchElements * 2, DTYPE);
  const lseSlice = (b: number) => slice(lse, b, [1, H, L], H * L * 4, 'float32');

  // The first CHUNK batches against the float64 reference.
  const checkedAgainstReference = new Set<number>();
  for (const b of [0, 4, 12]) {
    const [qc, kc, vc] = await Promise.all(chunks.map((c) => Tensor.fromDevicePointer(storageOf(c).pointer + BigInt(b * batchElements * 2), [1, L, H, D], DTYPE, 'cuda').toFloat32Array()));
    const mask = { n: 1, lq: L, lk: L, h: H, hk: H, d: D, softmaxScale: 1 / Math.sqrt(D), windowLeft: -1, windowRight: 0, diagonalOffset: 0 };
    const got = { o: await oSlice(b).toFloat32Array(), lse: await lseSlice(b).toFloat32Array() };
    const failures = toleranceFailures(got, referenceForward(mask, qc, kc, vc), naiveLowPrecision(mask, DTYPE, qc, kc, vc), DTYPE, { forward: 2, backward: 3 });
    assert.deepEqual(failures, [], `batch ${b} (seeds 500-502): ${failures.join('; ')}\n  repro: ${reproOf(import.meta.url, t.name)}`);
    checkedAgainstReference.add(b);
  }
  // Batches beyond 2^31 elements equal the batch with the same data, bit for bit.
  const firstBeyond = Math.ceil(2 ** 31 / batchElements);
  for (const b of [firstBeyond - 1, firstBeyond, firstBeyond + 5, N - 2, N - 1]) {
    const same = b % CHUNK;
    assert.ok(bitsEqual(await oSlice(b).data(), await oSlice(same).data()), `o of batch ${b} differs from batch ${same}`);
    assert.ok(bitsEqual(await lseSlice(b).data(), await lseSlice(same).data()), `lse of batch ${b} differs from batch ${same}`);
  }
  disposeAll(...chunks, ...big, out, lse);
});
