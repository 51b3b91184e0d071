/**
 * float16 / bfloat16 conversions, bit for bit: all 65,536 patterns of each format both ways, against an
 * independent decoder and a brute-force nearest-value rounding; ties to even, overflow, subnormals,
 * signed zero, and number[] (one rounding) versus Float32Array (already float32) inputs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Dtype, bfloat16Bits, bfloat16ToNumber, decodeArray, encodeArray, float16Bits, float16ToNumber, roundTo, ulp } from '../../src/dtype.js';
import { tensor } from '../../src/index.js';

interface Format {
  dtype: Exclude<Dtype, 'float32'>;
  mantissaBits: number;
  exponentBits: number;
  toBits: (x: number) => number;
  toNumber: (bits: number) => number;
  canonicalNaN: number;
}

const FORMATS: Format[] = [
  { dtype: 'float16', mantissaBits: 10, exponentBits: 5, toBits: float16Bits, toNumber: float16ToNumber, canonicalNaN: 0x7e00 },
  { dtype: 'bfloat16', mantissaBits: 7, exponentBits: 8, toBits: bfloat16Bits, toNumber: bfloat16ToNumber, canonicalNaN: 0x7fc0 },
];

/** The IEEE definition of a bit pattern's value, written out independently of src/dtype.ts. */
function definitionValue(bits: number, f: Format): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const maxExponent = (1 << f.exponentBits) - 1;
  const bias = (1 << (f.exponentBits - 1)) - 1;
  const e = (bits >> f.mantissaBits) & maxExponent;
  const m = bits & ((1 << f.mantissaBits) - 1);
  if (e === maxExponent) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** (1 - bias - f.mantissaBits);
  return sign * (1 + m / 2 ** f.mantissaBits) * 2 ** (e - bias);
}

/** Patterns 0 .. infinity-1 are the non-negative finite values in increasing order. */
const infinityBits = (f: Format) => ((1 << f.exponentBits) - 1) << f.mantissaBits;

/** Round to nearest, ties to even, by brute force over the sorted values (overflow: the pattern past the max). */
function bruteForceBits(x: number, f: Format, sorted: Float64Array): number {
  if (Number.isNaN(x)) return f.canonicalNaN;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const inf = infinityBits(f);
  // the pattern after the largest finite one is infinity; its "value" is 2^(emax+1) for rounding purposes
  const next = (b: number) => (b + 1 === inf ? 2 * 2 ** ((1 << (f.exponentBits - 1)) - 1) : sorted[b + 1]);
  if (a >= next(inf - 1)) return sign | inf;
  let lo = 0;
  let hi = inf - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sorted[mid] <= a) lo = mid;
    else hi = mid - 1;
  }
  const below = sorted[lo];
  if (below === a) return sign | lo;
  const above = next(lo);
  const pick = a - below < above - a ? lo : a - below > above - a ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
  return sign | pick;
}

for (const f of FORMATS) {
  describe(`${f.dtype} conversions`, () => {
    const sorted = new Float64Array(infinityBits(f));
    for (let b = 0; b < sorted.length; b++) sorted[b] = definitionValue(b, f);

    it('decodes all 65,536 patterns to their IEEE value (scalar and decodeArray agree)', () => {
      const all = new Uint16Array(65536).map((_, i) => i);
      const decoded = decodeArray(all, f.dtype);
      for (let b = 0; b < 65536; b++) {
        const want = definitionValue(b, f);
        const got = f.toNumber(b);
        if (Number.isNaN(want)) {
          assert.ok(Number.isNaN(got) && Number.isNaN(decoded[b]), `pattern 0x${b.toString(16)} must decode to NaN`);
        } else {
          assert.ok(Object.is(got, want), `pattern 0x${b.toString(16)}: got ${got}, want ${want}`);
          assert.ok(Object.is(decoded[b], want), `decodeArray 0x${b.toString(16)}: got ${decoded[b]}, want ${want}`);
        }
      }
    });

    it('bits -> number -> bits round-trips all 65,536 patterns (NaNs become the canonical quiet NaN)', () => {
      const values = new Float32Array(65536);
      for (let b = 0; b < 65536; b++) values[b] = f.toNumber(b);
      const viaArray = encodeArray(values, f.dtype) as Uint16Array;
      const viaNumbers = encodeArray(Array.from(values), f.dtype) as Uint16Array;
      for (let b = 0; b < 65536; b++) {
        const want = Number.isNaN(values[b]) ? f.canonicalNaN : b;
        assert.equal(f.toBits(values[b]), want, `pattern 0x${b.toString(16)}`);
        assert.equal(viaArray[b], want, `encodeArray(Float32Array) 0x${b.toString(16)}`);
        assert.equal(viaNumbers[b], want, `encodeArray(number[]) 0x${b.toString(16)}`);
      }
    });

    it('midpoints between neighbours round to the even pattern; a hair off rounds to the nearer one', () => {
      const inf = infinityBits(f);
      for (let b = 0; b + 1 < inf; b++) {
        const lo = sorted[b];
        const hi = sorted[b + 1];
        const mid = (lo + hi) / 2; // exact in float64: both have far fewer significant bits
        const even = b % 2 === 0 ? b : b + 1;
        const hair = (hi - lo) * 2 ** -20;
        for (const sign of [0, 0x8000]) {
          const s = sign ? -1 : 1;
          assert.equal(f.toBits(s * mid), sign | even, `midpoint of 0x${b.toString(16)} and its successor`);
          assert.equal(f.toBits(s * (mid - hair)), sign | b, `just below the midpoint after 0x${b.toString(16)}`);
          assert.equal(f.toBits(s * (mid + hair)), sign | (b + 1), `just above the midpoint after 0x${b.toString(16)}`);
        }
      }
    });

    it('overflows to Infinity at and above the midpoint past the largest finite value', () => {
      const inf = infinityBits(f);
      const max = sorted[inf - 1];
      const threshold = max + ulp(f.dtype, max) / 2;
      assert.equal(f.toBits(threshold), inf, 'the midpoint ties away from the odd largest value, to Infinity');
      assert.equal(f.toBits(threshold * (1 - 2 ** -40)), inf - 1);
      assert.equal(f.toBits(-threshold), 0x8000 | inf);
      assert.equal(f.toBits(1e300), inf);
      assert.equal(f.toBits(Infinity), inf);
      assert.equal(f.toBits(-Infinity), 0x8000 | inf);
      assert.equal(f.toBits(Number.MAX_VALUE), inf);
      assert.equal(f.toBits(NaN), f.canonicalNaN);
      assert.equal(roundTo(threshold, f.dtype), Infinity);
    });

    it('handles subnormals, the smallest values and signed zero', () => {
      const tiny = sorted[1]; // smallest subnormal
      assert.equal(f.toBits(tiny), 1);
      assert.equal(f.toBits(tiny / 2), 0, 'half the smallest subnormal ties to even: +0');
      assert.equal(f.toBits(-tiny / 2), 0x8000, '... and -0 on the negative side');
      assert.equal(f.toBits((tiny / 2) * (1 + 2 ** -30)), 1);
      assert.equal(f.toBits(tiny * 1.5), 2, '1.5 x smallest ties to the even pattern 2');
      assert.equal(f.toBits(tiny * 2.5), 2);
      assert.equal(f.toBits(Number.MIN_VALUE), 0);
      const smallestNormal = 1 << f.mantissaBits;
      assert.equal(f.toBits(sorted[smallestNormal]), smallestNormal);
      assert.equal(f.toBits(sorted[smallestNormal - 1]), smallestNormal - 1, 'largest subnormal');
      assert.equal(f.toBits((sorted[smallestNormal] + sorted[smallestNormal - 1]) / 2), smallestNormal, 'tie across the subnormal boundary goes to the even (normal) pattern');
      assert.equal(f.toBits(0), 0);
      assert.equal(f.toBits(-0), 0x8000);
      assert.ok(Object.is(f.toNumber(0x8000), -0));
      assert.equal(ulp(f.dtype, 0), tiny);
      assert.equal(ulp(f.dtype, 1), 2 ** -f.mantissaBits);
    });

    it('matches brute-force nearest-even rounding on seeded random doubles', () => {
      const max = 2 * sorted[infinityBits(f) - 1];
      const doubles = fc.oneof(
        fc.double({ min: -max, max, noNaN: true }),
        fc.double({ min: -4, max: 4, noNaN: true }),
        fc.double({ min: -sorted[1 << f.mantissaBits] * 4, max: sorted[1 << f.mantissaBits] * 4, noNaN: true }),
        fc.integer({ min: 0, max: infinityBits(f) - 2 }).map((b) => (sorted[b] + sorted[b + 1]) / 2),
      );
      fc.assert(
        fc.property(doubles, (x) => {
          assert.equal(f.toBits(x), bruteForceBits(x, f, sorted), `x = ${x}`);
          const viaArray = (encodeArray([x], f.dtype) as Uint16Array)[0];
          assert.equal(viaArray, f.toBits(x));
        }),
        { seed: 1234, numRuns: 20000 },
      );
    });
  });
}

describe('conversions through tensor()', () => {
  it('rounds number[] once, straight from float64; a Float32Array is already float32 (double rounding)', async () => {
    // 1 + 2^-11 + 2^-30 is above the float16 midpoint 1 + 2^-11, but float32 rounds it onto that midpoint
    const x = 1 + 2 ** -11 + 2 ** -30;
    const fromNumbers = await tensor([x], [1], { dtype: 'float16' }).data();
    const fromFloat32 = await tensor(Float32Array.of(x), [1], { dtype: 'float16' }).data();
    assert.deepEqual([...fromNumbers], [0x3c01]);
    assert.deepEqual([...fromFloat32], [0x3c00]);
    const y = 1 + 2 ** -8 + 2 ** -30;
    assert.deepEqual([...(await tensor([y], [1], { dtype: 'bfloat16' }).data())], [0x3f81]);
    assert.deepEqual([...(await tensor(Float32Array.of(y), [1], { dtype: 'bfloat16' }).data())], [0x3f80]);
  });

  it('takes a Uint16Array as raw bits and float32 data as float32 (rounding number[] to float32)', async () => {
    const bits = Uint16Array.of(0x3c00, 0xc000, 0x7e00, 0x0001, 0x8000);
    const t = tensor(bits, [5], { dtype: 'float16' });
    assert.deepEqual([...(await t.data())], [...bits]);
    const values = await t.toFloat32Array();
    assert.deepEqual([values[0], values[1], values[3]], [1, -2, 2 ** -24]);
    assert.ok(Number.isNaN(values[2]) && Object.is(values[4], -0));
    assert.equal(tensor(Uint16Array.of(0x3f80), [1]).dtype, 'float16', 'raw bits default to float16');
    assert.deepEqual([...(await tensor(Uint16Array.of(0x3f80), [1], { dtype: 'bfloat16' }).toFloat32Array())], [1]);
    const f32 = await tensor([0.1, -0, 1e40], [3]).data();
    assert.ok(f32 instanceof Float32Array);
    assert.ok(f32[0] === Math.fround(0.1) && Object.is(f32[1], -0) && f32[2] === Infinity);
  });

  it('roundTo agrees with the bit conversions for every dtype', () => {
    for (const x of [0.1, -3.14159, 65519, 65520, 1e-8, 3e38, 3.4e38]) {
      assert.equal(roundTo(x, 'float32'), Math.fround(x));
      assert.ok(Object.is(roundTo(x, 'float16'), float16ToNumber(float16Bits(x))));
      assert.ok(Object.is(roundTo(x, 'bfloat16'), bfloat16ToNumber(bfloat16Bits(x))));
    }
    assert.equal(ulp('float32', 1), 2 ** -23);
    assert.equal(ulp('float16', 1000), 0.5);
  });
});
