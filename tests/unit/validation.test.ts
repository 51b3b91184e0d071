/**
 * Every bad input throws a named FlashAttentionError before any work, with a message naming the argument,
 * what was expected and what was given. One test per rule.
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
  type Tensor,
  flashMha,
  flashMhaBwd,
  flashMhaFwd,
  flashMhaVjp,
  randn,
  tensor,
  zeros,
} from '../../src/index.js';
import type { Dtype } from '../../src/dtype.js';
import { type AttentionOptions, attentionProblem } from '../../src/params.js';
import { HostStorage } from '../../src/storage.js';
import { Tensor as TensorClass } from '../../src/tensor.js';

type ErrorClass = new (message: string) => FlashAttentionError;

/** Asserts `fn` throws exactly `type` with `code`, and that the message matches every pattern. */
function expectError(fn: () => unknown, type: ErrorClass, code: string, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.ok(error instanceof FlashAttentionError);
    assert.equal(error.name, type.name);
    assert.equal(error.code, code);
    for (const p of patterns) assert.match(error.message, p);
    return true;
  });
}

const t = (shape: number[], dtype: Dtype = 'float32', device = 'cpu') => zeros(shape, { dtype, device });
const attend = (q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions) => () => flashMha(q, k, v, options);

describe('validation of flashMha / flashMhaFwd inputs', () => {
  const q = t([2, 4, 6, 8]);
  const k = t([2, 5, 3, 8]);
  const v = t([2, 5, 3, 8]);

  it('wrong rank names the tensor, the expected dims and the given shape', () => {
    expectError(attend(t([2, 128, 64]), k, v), ShapeError, 'ERR_SHAPE', /^q: expected 4 dimensions \[n, lq, h, d\], got \[2, 128, 64\]$/);
    expectError(attend(q, t([2, 128, 64]), v), ShapeError, 'ERR_SHAPE', /^k: expected 4 dimensions \[n, lk, hk, d\], got \[2, 128, 64\]$/);
    expectError(attend(q, k, t([1, 2, 5, 3, 8])), ShapeError, 'ERR_SHAPE', /^v: expected 4 dimensions \[n, lk, hk, d\], got \[1, 2, 5, 3, 8\]$/);
  });

  it('mismatched batch n', () => {
    expectError(attend(q, t([3, 5, 3, 8]), v), ShapeError, 'ERR_SHAPE', /^k: expected n = 2 \(as in q\), got 3$/);
    expectError(attend(q, k, t([1, 5, 3, 8])), ShapeError, 'ERR_SHAPE', /^v: expected n = 2 \(as in q\), got 1$/);
  });

  it('mismatched lk between k and v', () => {
    expectError(attend(q, k, t([2, 6, 3, 8])), ShapeError, 'ERR_SHAPE', /^v: expected lk = 5 \(as in k\), got 6$/);
  });

  it('mismatched hk between k and v', () => {
    expectError(attend(q, k, t([2, 5, 2, 8])), ShapeError, 'ERR_SHAPE', /^v: expected hk = 3 \(as in k\), got 2$/);
  });

  it('mismatched head dim d', () => {
    expectError(attend(q, t([2, 5, 3, 7]), v), ShapeError, 'ERR_SHAPE', /^k: expected d = 8 \(as in q\), got 7$/);
    expectError(attend(q, k, t([2, 5, 3, 9])), ShapeError, 'ERR_SHAPE', /^v: expected d = 8 \(as in q\), got 9$/);
  });

  it('h % hk != 0 and hk = 0', () => {
    expectError(attend(q, t([2, 5, 4, 8]), t([2, 5, 4, 8])), ShapeError, 'ERR_SHAPE', /^k: expected hk to divide h \(h = 6\), got hk = 4$/);
    expectError(attend(q, t([2, 5, 0, 8]), t([2, 5, 0, 8])), ShapeError, 'ERR_SHAPE', /^k: expected hk >= 1, got 0$/);
  });

  it('n = 0 and h = 0', () => {
    expectError(attend(t([0, 4, 6, 8]), t([0, 5, 3, 8]), t([0, 5, 3, 8])), ShapeError, 'ERR_SHAPE', /^q: expected n >= 1, got 0$/);
    expectError(attend(t([2, 4, 0, 8]), k, v), ShapeError, 'ERR_SHAPE', /^q: expected h >= 1, got 0$/);
  });

  it('head dim outside 1..256', () => {
    for (const d of [0, 257, 512]) {
      expectError(attend(t([1, 2, 1, d]), t([1, 2, 1, d]), t([1, 2, 1, d])), ShapeError, 'ERR_SHAPE', new RegExp(`^q: expected head dim d in 1\\.\\.256, got ${d}$`));
    }
    assert.doesNotThrow(() => flashMha(t([1, 2, 1, 256]), t([1, 2, 1, 256]), t([1, 2, 1, 256])).dispose());
    assert.doesNotThrow(() => flashMha(t([1, 2, 1, 1]), t([1, 2, 1, 1]), t([1, 2, 1, 1])).dispose());
  });

  it('mismatched dtype', () => {
    const k16 = t([2, 5, 3, 8], 'float16');
    expectError(attend(q, k16, v), DtypeError, 'ERR_DTYPE', /^k: expected dtype 'float32' \(the dtype of q\), got 'float16'$/);
    expectError(attend(t([2, 4, 6, 8], 'bfloat16'), t([2, 5, 3, 8], 'bfloat16'), k16), DtypeError, 'ERR_DTYPE', /^v: expected dtype 'bfloat16' \(the dtype of q\), got 'float16'$/);
  });

  it('mismatched device', () => {
    expectError(attend(q, t([2, 5, 3, 8], 'float32', 'cpu:1'), v), DeviceError, 'ERR_DEVICE', /^k: expected device 'cpu:0' \(the device of q\), got 'cpu:1'$/);
    expectError(attend(q, k, t([2, 5, 3, 8], 'float32', 'cpu:2')), DeviceError, 'ERR_DEVICE', /^v: expected device 'cpu:0' \(the device of q\), got 'cpu:2'$/);
  });

  it('window values below -1 or not integers', () => {
    for (const [w, side, given] of [[[-2, 0], 'left', '-2'], [[0, -5], 'right', '-5'], [[1.5, 0], 'left', '1.5'], [[0, NaN], 'right', 'NaN'], [[Infinity, 0], 'left', 'Infinity'], [['3', 0], 'left', "'3'"]] as const) {
      expectError(attend(q, k, v, { windowSize: w as unknown as [number, number] }), OptionError, 'ERR_OPTION', new RegExp(`^windowSize: expected ${side} to be an integer >= -1 \\(-1 = unbounded\\), got ${given}$`));
    }
    expectError(attend(q, k, v, { windowSize: [1, 2, 3] as unknown as [number, number] }), OptionError, 'ERR_OPTION', /^windowSize: expected \[left, right\], got \[1, 2, 3\]$/);
    expectError(attend(q, k, v, { windowSize: 4 as unknown as [number, number] }), OptionError, 'ERR_OPTION', /^windowSize: expected \[left, right\], got 4$/);
  });

  it('non-finite or non-number softmaxScale', () => {
    for (const [scale, given] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'], ['0.5', "'0.5'"]] as const) {
      expectError(attend(q, k, v, { softmaxScale: scale as number }), OptionError, 'ERR_OPTION', new RegExp(`^softmaxScale: expected a finite number within float32 range, got ${given}$`));
    }
    // Finite as a double but Infinity as the kernels' float32.
    expectError(attend(q, k, v, { softmaxScale: 1e40 }), OptionError, 'ERR_OPTION', /^softmaxScale: expected a finite number within float32 range, got 1e\+40$/);
  });

  it('unknown options, with the camelCase name for flash_attn_jax spellings', () => {
    expectError(attend(q, k, v, { window_size: [1, 1] } as unknown as AttentionOptions), OptionError, 'ERR_OPTION', /^options: unknown option 'window_size' \(did you mean windowSize\?\); expected softmaxScale, isCausal, windowSize, deterministic$/);
    expectError(attend(q, k, v, { is_causal: true } as unknown as AttentionOptions), OptionError, 'ERR_OPTION', /^options: unknown option 'is_causal' \(did you mean isCausal\?\)/);
    expectError(attend(q, k, v, { dropout: 0.1 } as unknown as AttentionOptions), OptionError, 'ERR_OPTION', /^options: unknown option 'dropout'; expected softmaxScale, isCausal, windowSize, deterministic$/);
  });

  it('null is no option value: softmaxScale, isCausal and windowSize refuse it as deterministic does', () => {
    expectError(attend(q, k, v, { softmaxScale: null as unknown as number }), OptionError, 'ERR_OPTION', /^softmaxScale: expected a finite number within float32 range, got null$/);
    expectError(attend(q, k, v, { isCausal: null as unknown as boolean }), OptionError, 'ERR_OPTION', /^isCausal: expected a boolean, got null$/);
    expectError(attend(q, k, v, { windowSize: null as unknown as [number, number] }), OptionError, 'ERR_OPTION', /^windowSize: expected \[left, right\], got null$/);
    // Left out (undefined) each takes its default.
    flashMha(q, k, v, { softmaxScale: undefined, isCausal: undefined, windowSize: undefined }).dispose();
  });

  it('isCausal that is not a boolean, and options that are not an object', () => {
    expectError(attend(q, k, v, { isCausal: 1 as unknown as boolean }), OptionError, 'ERR_OPTION', /^isCausal: expected a boolean, got 1$/);
    expectError(attend(q, k, v, null as unknown as AttentionOptions), OptionError, 'ERR_OPTION', /^options: expected a plain object, got null$/);
  });

  it('deterministic: true, false or absent; anything else names the option and the value', () => {
    for (const deterministic of [true, false, undefined]) {
      assert.equal(attentionProblem(q, k, v, { deterministic }).deterministic, deterministic ?? false);
      flashMha(q, k, v, { deterministic }).dispose();
    }
    assert.equal(attentionProblem(q, k, v).deterministic, false);
    for (const [value, given] of [[1, '1'], ['yes', "'yes'"], [null, 'null']] as const) {
      const options = { deterministic: value as unknown as boolean };
      const message = new RegExp(`^deterministic: expected a boolean \\(true: bitwise repeatable dq, dk, dv\\), got ${given}$`);
      expectError(attend(q, k, v, options), OptionError, 'ERR_OPTION', message);
      const { out, lse } = flashMhaFwd(q, k, v);
      expectError(() => flashMhaBwd(t([2, 4, 6, 8]), q, k, v, out, lse, options), OptionError, 'ERR_OPTION', message);
      expectError(() => flashMhaVjp(q, k, v, options), OptionError, 'ERR_OPTION', message);
      out.dispose();
      lse.dispose();
    }
  });

  it('arguments that are not tensors', () => {
    expectError(attend({} as Tensor, k, v), ShapeError, 'ERR_SHAPE', /^q: expected a Tensor, got Object$/);
    expectError(attend(q, [1, 2] as unknown as Tensor, v), ShapeError, 'ERR_SHAPE', /^k: expected a Tensor, got \[1, 2\]$/);
  });

  it('a disposed tensor, named', () => {
    for (const name of ['q', 'k', 'v'] as const) {
      const args = { q: t([2, 4, 6, 8]), k: t([2, 5, 3, 8]), v: t([2, 5, 3, 8]) };
      args[name].dispose();
      expectError(attend(args.q, args.k, args.v), DisposedError, 'ERR_DISPOSED', new RegExp(`^${name}: the tensor was disposed and cannot be used$`));
    }
  });

  it('element counts beyond the backend limit (shape-only tensors: no gigabytes allocated)', () => {
    // A tensor whose shape claims 2^31 elements over a one-element storage: validation reads only the shape.
    const huge = (shape: number[]) => new TensorClass(new HostStorage('cpu:0', 'float16', new Uint16Array(1)), shape);
    const small = (shape: number[]) => t(shape, 'float16');
    expectError(attend(huge([1, 2 ** 20, 8, 256]), small([1, 4, 8, 256]), small([1, 4, 8, 256])), SizeLimitError, 'ERR_SIZE_LIMIT', /^q: 2147483648 elements exceed the cpu backend's limit of 2147483647$/);
    expectError(attend(small([1, 4, 8, 256]), huge([1, 2 ** 20, 8, 256]), small([1, 2 ** 20, 8, 256].map((x, i) => (i === 1 ? 1 : x)))), ShapeError, 'ERR_SHAPE', /^v: expected lk = 1048576 \(as in k\), got 1$/);
    expectError(attend(small([1, 4, 8, 256]), huge([1, 2 ** 20, 8, 256]), huge([1, 2 ** 20, 8, 256])), SizeLimitError, 'ERR_SIZE_LIMIT', /^k: 2147483648 elements exceed/);
    assert.doesNotThrow(() => flashMhaFwd(small([1, 1, 1, 8]), small([1, 1, 1, 8]), small([1, 1, 1, 8])));
  });
});

describe('validation of flashMhaBwd inputs', () => {
  const q = t([1, 4, 2, 8]);
  const k = t([1, 6, 1, 8]);
  const v = t([1, 6, 1, 8]);
  const { out, lse } = flashMhaFwd(q, k, v);
  const dout = t([1, 4, 2, 8]);
  const backward = (over: Partial<Record<'dout' | 'out' | 'lse', Tensor>>) => () => flashMhaBwd(over.dout ?? dout, q, k, v, over.out ?? out, over.lse ?? lse);

  it('dout and out must have the shape, dtype and device of q', () => {
    expectError(backward({ dout: t([1, 4, 2, 7]) }), ShapeError, 'ERR_SHAPE', /^dout: expected shape \[1, 4, 2, 8\] \(the shape of q\), got \[1, 4, 2, 7\]$/);
    expectError(backward({ out: t([1, 4, 8]) }), ShapeError, 'ERR_SHAPE', /^out: expected shape \[1, 4, 2, 8\] \(the shape of q\), got \[1, 4, 8\]$/);
    expectError(backward({ dout: t([1, 4, 2, 8], 'float16') }), DtypeError, 'ERR_DTYPE', /^dout: expected dtype 'float32' \(the dtype of q\), got 'float16'$/);
    expectError(backward({ out: t([1, 4, 2, 8], 'bfloat16') }), DtypeError, 'ERR_DTYPE', /^out: expected dtype 'float32' \(the dtype of q\), got 'bfloat16'$/);
    expectError(backward({ dout: t([1, 4, 2, 8], 'float32', 'cpu:1') }), DeviceError, 'ERR_DEVICE', /^dout: expected device 'cpu:0' \(the device of q\), got 'cpu:1'$/);
  });

  it('lse must be [n, h, lq] float32 on the device of q', () => {
    expectError(backward({ lse: t([1, 4, 2]) }), ShapeError, 'ERR_SHAPE', /^lse: expected shape \[1, 2, 4\] \[n, h, lq\], got \[1, 4, 2\]$/);
    expectError(backward({ lse: t([1, 2, 4], 'float16') }), DtypeError, 'ERR_DTYPE', /^lse: expected dtype 'float32', got 'float16'$/);
    expectError(backward({ lse: t([1, 2, 4], 'float32', 'cpu:3') }), DeviceError, 'ERR_DEVICE', /^lse: expected device 'cpu:0' \(the device of q\), got 'cpu:3'$/);
  });

  it('disposed backward inputs are named', () => {
    for (const name of ['dout', 'out', 'lse'] as const) {
      const gone = name === 'lse' ? t([1, 2, 4]) : t([1, 4, 2, 8]);
      gone.dispose();
      expectError(backward({ [name]: gone }), DisposedError, 'ERR_DISPOSED', new RegExp(`^${name}: the tensor was disposed and cannot be used$`));
    }
  });

  it('the pullback of flashMhaVjp validates dout the same way', () => {
    const [o, pullback] = flashMhaVjp(q, k, v);
    expectError(() => pullback(t([1, 4, 2, 9])), ShapeError, 'ERR_SHAPE', /^dout: expected shape \[1, 4, 2, 8\] \(the shape of q\), got \[1, 4, 2, 9\]$/);
    o.dispose();
    pullback.dispose();
  });
});

describe('validation of tensor creation', () => {
  it('data length must match the shape', () => {
    expectError(() => tensor([1, 2, 3], [2, 2]), ShapeError, 'ERR_SHAPE', /^data: expected 4 elements for shape \[2, 2\], got 3$/);
    expectError(() => tensor(new Uint16Array(5), [2, 2], { dtype: 'bfloat16' }), ShapeError, 'ERR_SHAPE', /^data: expected 4 elements for shape \[2, 2\], got 5$/);
  });

  it('shape, dtype, device and data kinds', () => {
    expectError(() => tensor([1], [-1]), ShapeError, 'ERR_SHAPE', /^shape: expected an array of non-negative integers up to 2\^53 - 1, got \[-1\]$/);
    expectError(() => tensor([1], [1.5]), ShapeError, 'ERR_SHAPE', /^shape: expected an array of non-negative integers up to 2\^53 - 1, got \[1\.5\]$/);
    expectError(() => tensor([1], [1], { dtype: 'float64' as Dtype }), DtypeError, 'ERR_DTYPE', /^dtype: expected 'float32', 'float16' or 'bfloat16', got 'float64'$/);
    expectError(() => tensor(new Uint16Array(1), [1], { dtype: 'float32' }), DtypeError, 'ERR_DTYPE', /^data: a Uint16Array holds float16 or bfloat16 bits, but dtype is 'float32'$/);
    expectError(() => tensor(new Float64Array(1) as unknown as Float32Array, [1]), ShapeError, 'ERR_SHAPE', /^data: expected a Float32Array, Uint16Array or number\[\], got Float64Array$/);
    expectError(() => tensor([1], [1], { device: 'gpu' }), DeviceError, 'ERR_DEVICE', /^device: expected 'cpu', 'cpu:N', 'cuda' or 'cuda:N', got 'gpu'$/);
    // One spelling per device: a leading zero is refused, not read as cpu:1.
    expectError(() => tensor([1], [1], { device: 'cpu:01' }), DeviceError, 'ERR_DEVICE', /^device: expected 'cpu', 'cpu:N', 'cuda' or 'cuda:N', got 'cpu:01'$/);
    assert.equal(tensor([1], [1], { device: 'cpu:0' }).device, 'cpu:0');
    expectError(() => tensor([1], [1], { device: 'cpu:99' }), DeviceError, 'ERR_DEVICE', /^device: 'cpu:99' does not exist; this machine has \d+ cpu device\(s\)$/);
  });

  it('number[] elements, options objects, randn seed and scale', () => {
    expectError(() => tensor(['a', 2] as unknown as number[], [2]), ShapeError, 'ERR_SHAPE', /^data: expected numbers, got 'a' at index 0$/);
    expectError(() => zeros([2], null as unknown as object), OptionError, 'ERR_OPTION', /^options: expected a plain object, got null$/);
    expectError(() => randn([2], { seed: 1.5 }), OptionError, 'ERR_OPTION', /^seed: expected an integer, got 1\.5$/);
    expectError(() => randn([2], { scale: NaN }), OptionError, 'ERR_OPTION', /^scale: expected a finite number >= 0, got NaN$/);
    expectError(() => randn([2], { scale: -1 }), OptionError, 'ERR_OPTION', /^scale: expected a finite number >= 0, got -1$/);
  });

  it('unknown option keys of tensor, zeros and randn', () => {
    expectError(() => randn([2], { sd: 1 } as never), OptionError, 'ERR_OPTION', /^options: unknown option 'sd'; expected dtype, device, seed, scale$/);
    expectError(() => zeros([2], { seed: 1 } as never), OptionError, 'ERR_OPTION', /^options: unknown option 'seed'; expected dtype, device$/);
    expectError(() => tensor([1], [1], { dType: 'float16' } as never), OptionError, 'ERR_OPTION', /^options: unknown option 'dType'; expected dtype, device$/);
    expectError(() => tensor([1], [1], [] as never), OptionError, 'ERR_OPTION', /^options: expected a plain object, got/);
    // A Map's entries are not own keys: taken as an empty options object, its dtype would be ignored without a word.
    expectError(() => zeros([2], new Map([['dtype', 'float16']]) as never), OptionError, 'ERR_OPTION', /^options: expected a plain object, got Map$/);
    // A class instance's prototype properties (here a misspelt one) would escape the unknown-key check.
    class Placement {
      get dType() {
        return 'float16';
      }
    }
    expectError(() => zeros([2], new Placement() as never), OptionError, 'ERR_OPTION', /^options: expected a plain object, got Placement$/);
    assert.equal(zeros([2], Object.assign(Object.create(null) as object, { dtype: 'float16' as const })).dtype, 'float16');
  });
});
