// The CUDA ring operations against the host ones on the same data: strided slices and joins (every copy
// unit), fills, the log-space merge (with -Infinity on either or both sides, at a row offset too), accumulation
// (whole and into a segment's rows), the rounding casts bit for bit, and the one-GPU copy transport. Skipped
// without a CUDA device; with one, kernels not built fail the first test (the rest skip).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cudaBackend } from '../../src/backend/cuda/index.js';
import { cudaDevice } from '../../src/backend/cuda/runtime.js';
import { type Dtype, type HostArray, encodeArray } from '../../src/dtype.js';
import { normalSamples } from '../../src/tensor.js';
import { HostStorage, type Storage } from '../../src/storage.js';
import { cudaRingOps } from '../../src/ring/cuda-ops.js';
import { LocalCudaTransport } from '../../src/ring/cuda-transport.js';
import { hostRingOps } from '../../src/ring/host-ops.js';
import { kernelsMissing, noDevice, skipReason } from './cuda-support.js';

const GPU = 'cuda:0';

function hostData(dtype: Dtype, length: number, seed: number): HostArray {
  return encodeArray(normalSamples(length, seed), dtype);
}

function upload(array: HostArray, dtype: Dtype): Storage {
  return cudaBackend.upload(array, dtype, GPU);
}

async function bitsOf(s: Storage): Promise<Uint8Array> {
  const a = await s.read();
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

// inner sizes chosen so the copies use every unit: 15 x 2 bytes (2), 15 x 4 bytes (4), 16 x 2 bytes (16).
const SHAPES: { shape: number[]; dtype: Dtype }[] = [
  { shape: [2, 12, 3, 5], dtype: 'float16' },
  { shape: [2, 12, 3, 5], dtype: 'float32' },
  { shape: [3, 8, 4, 4], dtype: 'bfloat16' },
  { shape: [1, 10, 2, 8], dtype: 'float32' },
];

test('with a CUDA device here, the ring kernels are built (else every CUDA ring test would only skip)', { skip: noDevice }, () => {
  assert.equal(kernelsMissing, false);
});

test('slice and concat along every axis equal the host operations bit for bit', { skip: skipReason }, async () => {
  for (const [i, { shape, dtype }] of SHAPES.entries()) {
    const length = shape.reduce((a, b) => a * b, 1);
    const data = hostData(dtype, length, 40 + i);
    const host = new HostStorage('cpu:0', dtype, data);
    const gpu = upload(data, dtype);
    for (let axis = 0; axis < shape.length; axis++) {
      const rows = shape[axis];
      const cuts = rows >= 3 ? [[0, 1], [1, rows - 2], [rows - 1, 1]] : [[0, rows]];
      const label = `${dtype} ${JSON.stringify(shape)} axis ${axis}`;
      const hostParts = cuts.map(([start, len]) => hostRingOps.slice(host, shape, axis, start, len, 'cpu:0'));
      const gpuParts = cuts.map(([start, len]) => cudaRingOps.slice(gpu, shape, axis, start, len, GPU));
      for (let c = 0; c < cuts.length; c++) {
        assert.deepEqual(await bitsOf(gpuParts[c]), await bitsOf(hostParts[c]), `slice ${cuts[c]} ${label}`);
      }
      // Joined back in reverse order, so the result differs from the input unless the offsets are right.
      const shapes = cuts.map(([, len]) => shape.map((x, a) => (a === axis ? len : x))).reverse();
      const hostJoined = hostRingOps.concat([...hostParts].reverse(), shapes, axis, 'cpu:0');
      const gpuJoined = cudaRingOps.concat([...gpuParts].reverse(), shapes, axis, GPU);
      assert.deepEqual(await bitsOf(gpuJoined), await bitsOf(hostJoined), `concat ${label}`);
      for (const s of [...gpuParts, gpuJoined]) s.dispose();
    }
    gpu.dispose();
  }
});

test('filled writes the value into every float32 element', { skip: skipReason }, async () => {
  for (const value of [0, -Infinity, 1.5]) {
    const s = cudaRingOps.filled(1000, value, GPU);
    assert.ok((await s.read()).every((x) => x === value), `filled ${value}`);
    s.dispose();
  }
});

test('mergePartial equals the host merge, into all rows or at a row offset, and rows with lse = -Infinity on both sides stay o = 0, lse = -Infinity', { skip: skipReason }, async () => {
  const [n, l, h, d] = [2, 37, 3, 40];
  for (const [accRows, rowOffset] of [[l, 0], [l + 9, 5]]) {
    const accOut = normalSamples(n * accRows * h * d, 1);
    const partOut = normalSamples(n * l * h * d, 2);
    const accLse = normalSamples(n * h * accRows, 3, 4);
    const partLse = normalSamples(n * h * l, 4, 4);
    // Row r: r % 5 == 0 no key on the running side, 1 none on the new side, 2 none on either, else both seen.
    for (let r = 0; r < n * h * accRows; r++) if (r % 5 === 0 || r % 5 === 2) accLse[r] = -Infinity;
    for (let r = 0; r < n * h * l; r++) if (r % 5 === 1 || r % 5 === 2) partLse[r] = -Infinity;
    const zeroRows = (out: Float32Array, lse: Float32Array, rows: number) => {
      for (let b = 0; b < n; b++)
        for (let head = 0; head < h; head++)
          for (let i = 0; i < rows; i++) if (lse[(b * h + head) * rows + i] === -Infinity) out.fill(0, ((b * rows + i) * h + head) * d, ((b * rows + i) * h + head + 1) * d);
    };
    zeroRows(accOut, accLse, accRows);
    zeroRows(partOut, partLse, l);
    const gpu = [accOut, accLse, partOut, partLse].map((a) => upload(a, 'float32'));
    const host = [accOut, accLse, partOut, partLse].map((a) => new HostStorage('cpu:0', 'float32', a.slice()));
    cudaRingOps.mergePartial(gpu[0], gpu[1], gpu[2], gpu[3], { n, l, h, d, accRows, rowOffset });
    hostRingOps.mergePartial(host[0], host[1], host[2], host[3], { n, l, h, d, accRows, rowOffset });
    for (const index of [0, 1]) {
      const got = (await gpu[index].read()) as Float32Array;
      const want = (host[index] as HostStorage).array as Float32Array;
      const name = `${index === 0 ? 'out' : 'lse'} (accRows ${accRows}, offset ${rowOffset})`;
      for (let i = 0; i < got.length; i++) {
        if (want[i] === -Infinity) {
          assert.equal(got[i], -Infinity, `${name}[${i}]`);
          continue;
        }
        assert.ok(!Number.isNaN(got[i]), `${name}[${i}] is NaN`);
        assert.ok(Math.abs(got[i] - want[i]) <= 2e-6 * Math.max(1, Math.abs(want[i])), `${name}[${i}]: ${got[i]} vs ${want[i]}`);
      }
    }
    for (const s of gpu) s.dispose();
  }
});

test('addRows adds a segment into its rows in float32 exactly like the host', { skip: skipReason }, async () => {
  const [n, rows, accRows, rowOffset, rowElements] = [3, 7, 20, 9, 24];
  const acc = normalSamples(n * accRows * rowElements, 8);
  const part = normalSamples(n * rows * rowElements, 9);
  const [ga, gp] = [upload(acc, 'float32'), upload(part, 'float32')];
  const host = new HostStorage('cpu:0', 'float32', acc.slice());
  cudaRingOps.addRows(ga, gp, { n, rows, accRows, rowOffset, rowElements });
  hostRingOps.addRows(host, new HostStorage('cpu:0', 'float32', part), { n, rows, accRows, rowOffset, rowElements });
  assert.deepEqual(await ga.read(), host.array);
  assert.notDeepEqual(host.array, acc);
  ga.dispose();
  gp.dispose();
});

test('addInto adds in float32 exactly like the host', { skip: skipReason }, async () => {
  const a = normalSamples(12345, 5);
  const b = normalSamples(12345, 6);
  const [ga, gb] = [upload(a, 'float32'), upload(b, 'float32')];
  cudaRingOps.addInto(ga, gb);
  const want = a.map((x, i) => x + b[i]);
  assert.deepEqual(await ga.read(), want);
  ga.dispose();
  gb.dispose();
});

test('cast rounds float32 to float16 and bfloat16 to nearest even, bit for bit as the host does', { skip: skipReason }, async () => {
  const special = [
    0, -0, 1, -1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 65504, 65519.99, 65520, 1e6, -1e6,
    2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -149, 1e-40, 3.4e38, Infinity, -Infinity,
  ];
  const data = Float32Array.from([...special, ...normalSamples(5000, 7, 100)]);
  const src = upload(data, 'float32');
  for (const dtype of ['float16', 'bfloat16'] as const) {
    const out = cudaRingOps.cast(src, dtype);
    assert.equal(out.dtype, dtype);
    assert.deepEqual(await out.read(), encodeArray(data, dtype), dtype);
    out.dispose();
  }
  const nan = upload(Float32Array.from([NaN]), 'float32');
  const rounded = cudaRingOps.cast(nan, 'bfloat16');
  const bits = ((await rounded.read()) as Uint16Array)[0];
  assert.ok((bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0, `NaN stays NaN (bits ${bits.toString(16)})`);
  for (const s of [src, nan, rounded]) s.dispose();
});

test('the one-GPU copy transport moves each rank\'s block to the next rank', { skip: skipReason }, async () => {
  const w = 3;
  const transport = new LocalCudaTransport(Array.from({ length: w }, () => GPU));
  const data = Array.from({ length: w }, (_, r) => [hostData('bfloat16', 1000 + r, 60 + r), hostData('float32', 77, 70 + r)]);
  const blocks = data.map((row) => [upload(row[0], 'bfloat16'), upload(row[1], 'float32')]);
  const received = transport.begin(blocks).finish();
  for (let r = 0; r < w; r++) {
    const from = (r - 1 + w) % w;
    assert.deepEqual(await received[r][0].read(), data[from][0], `rank ${r} K`);
    assert.deepEqual(await received[r][1].read(), data[from][1], `rank ${r} V`);
  }
  for (const s of [...blocks.flat(), ...received.flat()]) s.dispose();
  transport.dispose();
});

test('ring operations leave no device memory behind', { skip: skipReason }, async () => {
  const device = cudaDevice(GPU);
  device.synchronize();
  const before = device.memoryInUse();
  const src = upload(hostData('float16', 4 * 16 * 8, 9), 'float16');
  const part = cudaRingOps.slice(src, [4, 16, 8], 1, 3, 9, GPU);
  const joined = cudaRingOps.concat([part, part], [[4, 9, 8], [4, 9, 8]], 1, GPU);
  const acc = cudaRingOps.filled(100, 0, GPU);
  const cast = cudaRingOps.cast(acc, 'float16');
  for (const s of [src, part, joined, acc, cast]) s.dispose();
  device.synchronize();
  assert.equal(device.memoryInUse(), before);
});
