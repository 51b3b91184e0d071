/** The Tensor API: creation, reading back, dispose and `using`, copies between devices, randn and zeros. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DisposedError, Tensor, devices, flashMha, randn, tensor, zeros } from '../../src/index.js';
import { DTYPES } from '../../src/dtype.js';

describe('Tensor', () => {
  it('keeps shape, dtype and the canonical device name; reads back values and raw storage', async () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual([t.shape, t.dtype, t.device, t.size], [[2, 3], 'float32', 'cpu:0', 6]);
    assert.ok(Object.isFrozen(t.shape));
    assert.deepEqual([...(await t.toFloat32Array())], [1, 2, 3, 4, 5, 6]);
    const h = tensor(Float32Array.of(0.5, -1), [2], { dtype: 'float16', device: 'cpu:2' });
    assert.deepEqual([h.dtype, h.device], ['float16', 'cpu:2']);
    const raw = await h.data();
    assert.ok(raw instanceof Uint16Array);
    assert.deepEqual([...raw], [0x3800, 0xbc00]);
    assert.equal(String(h), "Tensor([2], float16, cpu:2)");
  });

  it('cannot have its shape, dtype or device rewritten (every check would read them, the storage would not change)', () => {
    const t = tensor([1, 2], [2]);
    const writable = t as unknown as Record<string, unknown>;
    assert.throws(() => { writable.shape = [4]; }, TypeError);
    assert.throws(() => { writable.dtype = 'bfloat16'; }, TypeError);
    assert.throws(() => { writable.device = 'cpu:1'; }, TypeError);
    assert.deepEqual([t.shape, t.dtype, t.device], [[2], 'float32', 'cpu:0']);
    t.dispose();
    assert.equal(t.isDisposed, true, 'dispose still works on the frozen tensor');
  });

  it('counts a shape with a zero dimension as empty, however large the others; refuses dimensions past 2^53 - 1', () => {
    const dims = [...Array(22).fill(2 ** 52), 0];  // the product of the others overflows to Infinity
    const t = zeros(dims);
    assert.equal(t.size, 0);
    assert.throws(() => zeros([1e200, 1e200, 0]), /^ShapeError: shape: expected an array of non-negative integers up to 2\^53 - 1/);
  });

  it('data() returns a copy, and tensor() copies its input', async () => {
    const input = Float32Array.of(1, 2);
    const t = tensor(input, [2]);
    input[0] = 99;
    const first = await t.data();
    first[1] = 42;
    assert.deepEqual([...(await t.toFloat32Array())], [1, 2]);
    const bits = Uint16Array.of(0x3c00);
    const b = tensor(bits, [1]);
    bits[0] = 0;
    assert.deepEqual([...(await b.data())], [0x3c00]);
  });

  it('dispose() frees the tensor; using it afterwards throws DisposedError; disposing twice is harmless', async () => {
    const t = zeros([3]);
    assert.equal(t.isDisposed, false);
    t.dispose();
    assert.equal(t.isDisposed, true);
    t.dispose();
    await assert.rejects(t.data(), DisposedError);
    await assert.rejects(t.toFloat32Array(), DisposedError);
    await assert.rejects(t.to('cpu:1'), DisposedError);
  });

  it('`using` disposes at the end of the block', () => {
    let outer: Tensor | undefined;
    {
      using t = zeros([2, 2]);
      outer = t;
      assert.equal(t.isDisposed, false);
    }
    assert.equal(outer.isDisposed, true);
  });

  it('to(device) copies to another device (a new tensor even for the same device)', async () => {
    const t = tensor(Uint16Array.of(0x3c00, 0x4000), [2], { dtype: 'bfloat16' });
    const moved = await t.to('cpu:3');
    assert.deepEqual([moved.device, moved.dtype, moved.shape], ['cpu:3', 'bfloat16', [2]]);
    assert.deepEqual([...(await moved.data())], [0x3c00, 0x4000]);
    const same = await t.to('cpu');
    assert.notEqual(same, t);
    assert.equal(same.device, 'cpu:0');
    t.dispose();
    assert.deepEqual([...(await moved.data())], [0x3c00, 0x4000], 'the copy outlives the original');
  });

  it('randn is reproducible per seed, differs across seeds, and has mean 0 and the requested scale', async () => {
    const a = await randn([10000], { seed: 5 }).toFloat32Array();
    const b = await randn([10000], { seed: 5 }).toFloat32Array();
    const c = await randn([10000], { seed: 6 }).toFloat32Array();
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    const variance = a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length;
    assert.ok(Math.abs(mean) < 0.05 && Math.abs(variance - 1) < 0.05, `mean ${mean}, variance ${variance}`);
    const scaled = await randn([10000], { seed: 5, scale: 3 }).toFloat32Array();
    assert.ok(Math.abs(scaled[7] - 3 * a[7]) < 1e-5);
    for (const dtype of DTYPES) {
      const t = randn([2, 3], { seed: 1, dtype, device: 'cpu:1' });
      assert.deepEqual([t.dtype, t.device], [dtype, 'cpu:1']);
      assert.deepEqual(await t.data(), await randn([2, 3], { seed: 1, dtype, device: 'cpu:1' }).data());
    }
  });

  it('zeros gives zeros in every dtype, including empty shapes', async () => {
    for (const dtype of DTYPES) {
      const t = zeros([2, 0, 3], { dtype });
      assert.equal(t.size, 0);
      assert.ok((await zeros([3, 2], { dtype }).toFloat32Array()).every((x) => Object.is(x, 0)));
    }
  });

  it('devices() lists the virtual CPU devices in canonical form', () => {
    const list = devices();
    assert.ok(list.includes('cpu:0'));
    assert.ok(list.every((d) => /^(cpu|cuda):\d+$/.test(d)));
  });

  it('attention never consumes or changes its inputs', async () => {
    const q = randn([1, 5, 2, 4], { seed: 1, dtype: 'float16' });
    const k = randn([1, 7, 1, 4], { seed: 2, dtype: 'float16' });
    const v = randn([1, 7, 1, 4], { seed: 3, dtype: 'float16' });
    const before = await Promise.all([q, k, v].map((t) => t.data()));
    flashMha(q, k, v, { isCausal: true }).dispose();
    for (const [i, t] of [q, k, v].entries()) {
      assert.equal(t.isDisposed, false);
      assert.deepEqual(await t.data(), before[i]);
    }
  });
});
