/**
 * Wrong arguments at the public API that once slipped past validation: sparse arrays (holes), null taken for a
 * default, out-of-range seeds and 16-bit patterns, non-numbers in the float16 / bfloat16 conversions, shapes beyond
 * the backend's limit, and failures halfway that must not leak. Each must throw a named FlashAttentionError (the
 * argument, what was expected, what was given) before any work, and leave nothing behind.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DeviceError,
  DisposedError,
  DtypeError,
  FlashAttentionError,
  OptionError,
  ShapeError,
  SizeLimitError,
  Tensor,
  bfloat16Bits,
  bfloat16ToNumber,
  devices,
  float16Bits,
  float16ToNumber,
  flashMhaBwd,
  flashMhaFwd,
  flashMhaVjp,
  fromLocalShards,
  gatherSequence,
  randn,
  setCpuDeviceCount,
  shardSequence,
  tensor,
  zeros,
} from '../../src/index.js';
import { backendFor } from '../../src/backend.js';
import { hostRingOps } from '../../src/ring/host-ops.js';
import { HostStorage, type Storage } from '../../src/storage.js';

type ErrorClass = new (message: string) => FlashAttentionError;

/** Asserts `fn` throws exactly `type`, with a message equal to `message`. */
function expectError(fn: () => unknown, type: ErrorClass, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.equal(error.message, message);
    return true;
  });
}

/** Runs `work` with typed-array constructions recorded; returns the largest byteLength seen. */
function largestTypedArrayDuring(work: () => void): number {
  const names = ['Float32Array', 'Float64Array', 'Uint16Array'] as const;
  const globals = globalThis as unknown as Record<string, Float32ArrayConstructor>;
  const originals = names.map((name) => globals[name]);
  let largest = 0;
  names.forEach((name, i) => {
    globals[name] = class extends originals[i] {
      constructor(...args: unknown[]) {
        super(...(args as [number]));
        largest = Math.max(largest, this.byteLength);
      }
    } as unknown as Float32ArrayConstructor;
  });
  try {
    work();
  } finally {
    names.forEach((name, i) => (globals[name] = originals[i]));
  }
  return largest;
}

const holed = [2, , 4] as number[];
const devices2 = ['cpu:0', 'cpu:1'];
/** FLASH_ATTN_CPU_DEVICES may set another count than the default 8. */
const cpuCount = devices().filter((name) => name.startsWith('cpu')).length;

describe('shapes with holes', () => {
  const message = 'shape: expected an array of non-negative integers up to 2^53 - 1, got [2, , 4]';

  it('tensor, zeros, randn and fromDevicePointer refuse a sparse shape instead of making a dimension undefined', () => {
    expectError(() => tensor([1, 2, 3, 4, 5, 6, 7, 8], holed), ShapeError, message);
    expectError(() => zeros(holed), ShapeError, message);
    expectError(() => randn(holed), ShapeError, message);
    expectError(() => Tensor.fromDevicePointer(1n, holed, 'float32', 'cuda'), ShapeError, message);
  });

  it('fromLocalShards checks the global shape before the axis and the shards it sizes', () => {
    const shards = () => shardSequence(zeros([1, 8, 2, 4]), devices2).shards;
    expectError(() => fromLocalShards(shards(), [1, , 2, 4] as number[]), ShapeError, 'shape: expected an array of non-negative integers up to 2^53 - 1, got [1, , 2, 4]');
    expectError(() => fromLocalShards(shards(), [1, 8, -2, 4]), ShapeError, 'shape: expected an array of non-negative integers up to 2^53 - 1, got [1, 8, -2, 4]');
    expectError(() => fromLocalShards(shards(), [NaN, 8, 2, 4]), ShapeError, 'shape: expected an array of non-negative integers up to 2^53 - 1, got [NaN, 8, 2, 4]');
    // Was "axis: expected an integer in 0..0 (an axis of shape), got 1": the wrong argument named.
    expectError(() => fromLocalShards(shards(), undefined as unknown as number[]), ShapeError, 'shape: expected an array of non-negative integers up to 2^53 - 1, got undefined');
  });

  it('a hole in shards or devices is named by its index', () => {
    const [a, b] = shardSequence(zeros([1, 8, 2, 4]), devices2).shards;
    expectError(() => fromLocalShards([a, , b] as Tensor[], [1, 12, 2, 4]), ShapeError, 'shards[1]: expected a Tensor, got undefined');
    const q = zeros([1, 8, 2, 4]);
    expectError(() => shardSequence(q, ['cpu:0', , 'cpu:1'] as string[]), DeviceError, "devices[1]: expected 'cpu', 'cpu:N', 'cuda' or 'cuda:N', got undefined");
    expectError(() => shardSequence(q, ['cpu:0', 'gpu:1']), DeviceError, "devices[1]: expected 'cpu', 'cpu:N', 'cuda' or 'cuda:N', got 'gpu:1'");
    expectError(() => shardSequence(q, ['cpu:0', 'cpu:99']), DeviceError, `devices[1]: 'cpu:99' does not exist; this machine has ${cpuCount} cpu device(s)`);
  });
});

describe('device counts and shard ownership', () => {
  it('setCpuDeviceCount refuses counts beyond 1024 (devices() names each one: 2**40 hung) and changes nothing then', () => {
    for (const count of [2 ** 40, 1025, 0, 1.5]) {
      expectError(() => setCpuDeviceCount(count), DeviceError, `count: expected an integer in 1..1024, got ${count}`);
    }
    assert.equal(devices().filter((name) => name.startsWith('cpu')).length, cpuCount);
    setCpuDeviceCount(1024);
    try {
      assert.equal(devices().filter((name) => name.startsWith('cpu')).length, 1024);
    } finally {
      setCpuDeviceCount(cpuCount);
    }
  });

  it('fromLocalShards refuses one tensor given for two ranks', () => {
    const [a, b] = shardSequence(zeros([1, 8, 2, 4]), devices2).shards;
    expectError(() => fromLocalShards([a, a], [1, 8, 2, 4]), ShapeError, 'shards[1]: the same tensor as shards[0]; each rank needs its own');
    assert.equal(fromLocalShards([a, b], [1, 8, 2, 4]).shards.length, 2);
  });
});

describe('null is refused, not taken for the default', () => {
  it('dtype and device of tensor, zeros and randn', () => {
    const dtype = "dtype: expected 'float32', 'float16' or 'bfloat16', got null";
    const device = "device: expected 'cpu', 'cpu:N', 'cuda' or 'cuda:N', got null";
    expectError(() => tensor([1], [1], { dtype: null as never }), DtypeError, dtype);
    expectError(() => zeros([1], { dtype: null as never }), DtypeError, dtype);
    expectError(() => randn([1], { dtype: null as never }), DtypeError, dtype);
    expectError(() => tensor([1], [1], { device: null as never }), DeviceError, device);
    expectError(() => zeros([1], { device: null as never }), DeviceError, device);
    // Left out (undefined), each still takes its default.
    const t = tensor([1], [1], { dtype: undefined, device: undefined });
    assert.deepEqual([t.dtype, t.device], ['float32', 'cpu:0']);
  });

  it('layout and axis of shardSequence and fromLocalShards', () => {
    const q = zeros([1, 8, 2, 4]);
    expectError(() => shardSequence(q, devices2, { layout: null as never }), OptionError, "layout: expected 'contiguous' or 'zigzag', got null");
    expectError(() => shardSequence(q, devices2, { axis: null as never }), OptionError, 'axis: expected an integer in 0..3 (an axis of t), got null');
    const shards = shardSequence(q, devices2).shards;
    expectError(() => fromLocalShards(shards, [1, 8, 2, 4], { axis: null as never }), OptionError, 'axis: expected an integer in 0..3 (an axis of shape), got null');
    expectError(() => fromLocalShards(shards, [1, 8, 2, 4], { layout: null as never }), OptionError, "layout: expected 'contiguous' or 'zigzag', got null");
    assert.equal(shardSequence(q, devices2, { layout: undefined, axis: undefined }).layout, 'contiguous');
  });
});

describe('randn seeds', () => {
  it('a seed outside 32 bits is refused: it would repeat another seed\'s samples (2^32 those of 0, -1 those of 2^32 - 1)', () => {
    expectError(() => randn([3], { seed: 2 ** 32 }), OptionError, 'seed: expected an integer in 0..4294967295 (32 bits), got 4294967296');
    expectError(() => randn([3], { seed: -1 }), OptionError, 'seed: expected an integer in 0..4294967295 (32 bits), got -1');
    expectError(() => randn([3], { seed: 1.5 }), OptionError, 'seed: expected an integer, got 1.5');
    for (const seed of [0, 2 ** 32 - 1]) randn([3], { seed }).dispose();
  });
});

describe('sizes beyond the backend limit', () => {
  const message = (shape: string, count: number) => `shape: ${shape} holds ${count} elements, beyond the cpu backend's limit of 2147483647`;

  it('tensor, zeros and randn throw SizeLimitError before allocating (was a RangeError, or an 8 GiB allocation)', () => {
    const largest = largestTypedArrayDuring(() => {
      expectError(() => zeros([2 ** 31]), SizeLimitError, message('[2147483648]', 2 ** 31));
      expectError(() => randn([2 ** 16, 2 ** 16], { dtype: 'bfloat16' }), SizeLimitError, message('[65536, 65536]', 2 ** 32));
      expectError(() => zeros([2 ** 33]), SizeLimitError, message('[8589934592]', 2 ** 33));
      expectError(() => tensor([1], [2 ** 20, 2 ** 20]), SizeLimitError, message('[1048576, 1048576]', 2 ** 40));
    });
    assert.ok(largest < 1024, `allocated ${largest} bytes before refusing`);
  });

  it('randn and zeros check dtype and device before making their data', () => {
    const largest = largestTypedArrayDuring(() => {
      expectError(() => randn([2 ** 24], { device: 'cpu:99' }), DeviceError, `device: 'cpu:99' does not exist; this machine has ${cpuCount} cpu device(s)`);
      expectError(() => randn([2 ** 24], { dtype: 'float64' as never }), DtypeError, "dtype: expected 'float32', 'float16' or 'bfloat16', got 'float64'");
      expectError(() => zeros([2 ** 24], { device: 'cpu:99' }), DeviceError, `device: 'cpu:99' does not exist; this machine has ${cpuCount} cpu device(s)`);
    });
    assert.ok(largest < 1024, `allocated ${largest} bytes before refusing`);
  });
});

describe('float16 / bfloat16 conversions', () => {
  it('float16Bits and bfloat16Bits take numbers only (they coerced strings and turned undefined into Infinity)', () => {
    for (const toBits of [float16Bits, bfloat16Bits]) {
      for (const [x, given] of [[undefined, 'undefined'], [null, 'null'], ['1', "'1'"], [{}, 'Object'], [1n, '1n']] as const) {
        expectError(() => toBits(x as unknown as number), DtypeError, `x: expected a number, got ${given}`);
      }
    }
    assert.equal(float16Bits(1), 0x3c00);
    assert.equal(float16Bits(NaN), 0x7e00, 'NaN is a number: converted as before');
    assert.equal(bfloat16Bits(-Infinity), 0xff80);
  });

  it('float16ToNumber and bfloat16ToNumber take a 16-bit pattern (they masked 1.5 to 1, 0x13c00 to 0x3c00)', () => {
    for (const toNumber of [float16ToNumber, bfloat16ToNumber]) {
      for (const [bits, given] of [[1.5, '1.5'], [-1, '-1'], [0x13c00, '80896'], [NaN, 'NaN'], ['1', "'1'"], [undefined, 'undefined']] as const) {
        expectError(() => toNumber(bits as unknown as number), DtypeError, `bits: expected an integer in 0..65535 (a 16-bit pattern), got ${given}`);
      }
    }
    assert.equal(float16ToNumber(0x3c00), 1);
    assert.ok(Object.is(float16ToNumber(0x8000), -0));
    assert.equal(bfloat16ToNumber(0xff80), -Infinity);
    assert.ok(Number.isNaN(bfloat16ToNumber(0xffff)));
  });
});

describe('messages', () => {
  it('a bigint is shown as one (1n), not as the number it looks like', () => {
    expectError(() => tensor([1n] as unknown as number[], [1]), ShapeError, 'data: expected numbers, got 1n at index 0');
    expectError(() => zeros([2n] as unknown as number[]), ShapeError, 'shape: expected an array of non-negative integers up to 2^53 - 1, got [2n]');
  });

  it('fromLocalShards quotes dtypes like every other dtype message', () => {
    const [a] = shardSequence(zeros([1, 8, 2, 4]), devices2).shards;
    const b = zeros([1, 4, 2, 4], { dtype: 'float16', device: 'cpu:1' });
    expectError(() => fromLocalShards([a, b], [1, 8, 2, 4]), DtypeError, "shards[1]: expected dtype 'float32' (as shards[0]), got 'float16'");
  });

  it('calling a disposed pullback names the pullback, not the lse it saved', () => {
    const [q, k, v] = [[1, 8, 2, 4], [1, 8, 1, 4], [1, 8, 1, 4]].map((shape, i) => randn(shape, { seed: i + 1 }));
    const message = 'vjp: the pullback was disposed (with its saved lse) and cannot be called';
    const [out, pullback] = flashMhaVjp(q, k, v);
    pullback.dispose();
    expectError(() => pullback(out), DisposedError, message);
    const [sq, sk, sv] = [q, k, v].map((t) => shardSequence(t, devices2));
    const [sout, shardedPullback] = flashMhaVjp(sq, sk, sv);
    shardedPullback.dispose();
    expectError(() => shardedPullback(sout), DisposedError, message);
  });

  it('a pullback whose q, k, v or o was disposed names that input as the caller knows it', () => {
    for (const gone of ['q', 'k', 'v', 'out'] as const) {
      const [q, k, v] = [[1, 8, 2, 4], [1, 8, 1, 4], [1, 8, 1, 4]].map((shape, i) => randn(shape, { seed: i + 1 }));
      const [out, pullback] = flashMhaVjp(q, k, v);
      const dout = randn(out.shape, { seed: 4 });
      ({ q, k, v, out })[gone].dispose();
      const which = gone === 'out' ? 'the output o that flashMhaVjp returned' : gone;
      expectError(() => pullback(dout), DisposedError, `vjp: ${which} was disposed; the pullback reads q, k, v and o, so keep them until it has run`);
      pullback.dispose();
    }
  });
});

describe('nothing leaks when a call fails halfway', () => {
  it('ShardedTensor.dispose disposes every shard even when one fails to (and throws that failure)', () => {
    class FailsOnce extends HostStorage {
      failing = true;
      override dispose(): void {
        if (this.failing) {
          this.failing = false;
          throw new Error('free failed');
        }
      }
    }
    const first = new Tensor(new FailsOnce('cpu:0', 'float32', new Float32Array(4)), [1, 4]);
    const second = new Tensor(new HostStorage('cpu:1', 'float32', new Float32Array(4)), [1, 4]);
    const sharded = fromLocalShards([first, second], [1, 8]);
    assert.throws(() => sharded.dispose(), /^Error: free failed$/);
    assert.equal(second.isDisposed, true, 'the shard after the failing one was left live');
    assert.equal(first.isDisposed, false, 'the failing shard stays live, so a second dispose() can retry it');
    sharded.dispose();
    assert.equal(sharded.isDisposed, true);
  });

  it('validation errors of the attention and ring calls leave no storage behind', () => {
    const q = randn([1, 8, 2, 4], { seed: 1 });
    const k = randn([1, 8, 1, 4], { seed: 2 });
    const v = randn([1, 8, 1, 4], { seed: 3 });
    const { out, lse } = flashMhaFwd(q, k, v);
    const [sq, sk, sv] = [q, k, v].map((t) => shardSequence(t, devices2));
    const sharded = flashMhaFwd(sq, sk, sv);
    const gone = shardSequence(q, devices2);
    gone.shards[1].dispose();
    const badK = zeros([1, 8, 3, 4]);
    const live = trackStorages();
    try {
      assert.throws(() => flashMhaFwd(q, badK, v), ShapeError);
      assert.throws(() => flashMhaBwd(q, q, k, v, out, out), ShapeError);
      assert.throws(() => flashMhaVjp(q, k, v, { windowSize: [-2, 0] }), OptionError);
      assert.throws(() => flashMhaBwd(sharded.out, sq, sk, sv, sharded.out, sharded.out), ShapeError);
      assert.throws(() => flashMhaBwd(q as never, sq, sk, sv, sharded.out, sharded.lse), ShapeError);
      assert.throws(() => shardSequence(q, ['cpu:0', 'cpu:1', 'cpu:2']), ShapeError);
      assert.throws(() => gatherSequence(gone), DisposedError);
      assert.equal(live.count(), 0);
    } finally {
      live.restore();
    }
    lse.dispose();
  });
});

/** Wraps the CPU backend's and the host ring ops' storage makers; count() is how many made storages are still live. */
function trackStorages(): { count(): number; restore(): void } {
  const made = new Set<Storage>();
  const track = <S extends Storage>(s: S): S => {
    made.add(s);
    const dispose = s.dispose.bind(s);
    s.dispose = () => {
      made.delete(s);
      dispose();
    };
    return s;
  };
  const cpu = backendFor('cpu') as unknown as Record<string, (...args: unknown[]) => unknown>;
  const ring = hostRingOps as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved: [Record<string, (...args: unknown[]) => unknown>, string, (...args: unknown[]) => unknown][] = [];
  const wrap = (target: Record<string, (...args: unknown[]) => unknown>, name: string, results: (r: unknown) => Storage[]) => {
    const original = target[name];
    saved.push([target, name, original]);
    target[name] = (...args) => {
      const r = original(...args);
      results(r).forEach(track);
      return r;
    };
  };
  wrap(cpu, 'upload', (r) => [r as Storage]);
  wrap(cpu, 'forward', (r) => Object.values(r as Record<string, Storage>));
  wrap(cpu, 'backward', (r) => Object.values(r as Record<string, Storage>));
  for (const name of ['slice', 'concat', 'filled', 'cast']) wrap(ring, name, (r) => [r as Storage]);
  return {
    count: () => made.size,
    restore: () => saved.forEach(([target, name, original]) => (target[name] = original)),
  };
}
