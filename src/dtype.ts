/**
 * Data types and the float16 / bfloat16 conversions (round to nearest, ties to even).
 * Node.js 20 has no Float16Array, so 16-bit data lives in a Uint16Array of raw bits.
 */
import { DtypeError, describe } from './errors.js';

export type Dtype = 'float32' | 'float16' | 'bfloat16';
export const DTYPES: readonly Dtype[] = ['float32', 'float16', 'bfloat16'];

export type HostArray = Float32Array | Uint16Array;

export function bytesPerElement(dtype: Dtype): number {
  return dtype === 'float32' ? 4 : 2;
}

/** Bit layout of a binary floating-point format with an implicit leading one. */
interface Format {
  mantissaBits: number;
  bias: number;
  nanBits: number;
}
const FLOAT16: Format = { mantissaBits: 10, bias: 15, nanBits: 0x7e00 };
const BFLOAT16: Format = { mantissaBits: 7, bias: 127, nanBits: 0x7fc0 };

const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const frac = x - f;
  if (frac > 0.5) return f + 1;
  if (frac < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Binary exponent of a finite, positive double (floor(log2(x)), exact). */
function exponentOf(x: number): number {
  scratch[0] = x;
  const biased = (scratchWords[HIGH_WORD] >>> 20) & 0x7ff;
  return biased === 0 ? -1023 : biased - 1023;
}

/** Rounds a double straight to a 16-bit format (one rounding, no detour through float32). */
function encode(x: number, f: Format): number {
  if (Number.isNaN(x)) return f.nanBits;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const abs = Math.abs(x);
  const infBits = sign | (((2 * f.bias + 1) << f.mantissaBits) & 0x7fff);
  if (abs === Infinity) return infBits;
  if (abs === 0) return sign;
  const implicitOne = 1 << f.mantissaBits;
  const minExponent = 1 - f.bias;
  let e = exponentOf(abs);
  if (e < minExponent) {
    // Subnormal: a fixed scale; a result of implicitOne is exactly the smallest normal encoding.
    return sign | roundHalfEven(abs * 2 ** (f.mantissaBits - minExponent));
  }
  let m = roundHalfEven(abs * 2 ** (f.mantissaBits - e));
  if (m === 2 * implicitOne) {
    m = implicitOne;
    e += 1;
  }
  if (e > f.bias) return infBits;
  return sign | ((e + f.bias) << f.mantissaBits) | (m - implicitOne);
}

/** The public conversions check their argument: encode() would coerce a string and turn undefined or {} into Infinity. */
function checkNumber(x: unknown): number {
  if (typeof x !== 'number') throw new DtypeError(`x: expected a number, got ${describe(x)}`);
  return x;
}

/** A 16-bit pattern, as a Uint16Array holds it: masking anything else would decode bits the caller never meant. */
function checkBits(bits: unknown): number {
  if (!Number.isInteger(bits) || (bits as number) < 0 || (bits as number) > 0xffff) {
    throw new DtypeError(`bits: expected an integer in 0..65535 (a 16-bit pattern), got ${describe(bits)}`);
  }
  return bits as number;
}

export function float16Bits(x: number): number {
  return encode(checkNumber(x), FLOAT16);
}

export function bfloat16Bits(x: number): number {
  return encode(checkNumber(x), BFLOAT16);
}

let float16Table: Float32Array | undefined;

function decodeFloat16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >>> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** The float16 value of all 65,536 bit patterns, built once. */
function float16Values(): Float32Array {
  if (!float16Table) {
    float16Table = new Float32Array(65536);
    for (let b = 0; b < 65536; b++) float16Table[b] = decodeFloat16(b);
  }
  return float16Table;
}

const bfloatScratch = new Float32Array(1);
const bfloatScratchBits = new Uint32Array(bfloatScratch.buffer);

/** The bfloat16 value of a 16-bit pattern: the top half of a float32's bits. */
function bfloat16Value(bits: number): number {
  bfloatScratchBits[0] = bits << 16;
  return bfloatScratch[0];
}

export function float16ToNumber(bits: number): number {
  return float16Values()[checkBits(bits)];
}

export function bfloat16ToNumber(bits: number): number {
  return bfloat16Value(checkBits(bits));
}

/** Converts values to the storage of `dtype`: Float32Array for float32, Uint16Array bits otherwise. */
export function encodeArray(values: ArrayLike<number>, dtype: Dtype): HostArray {
  const n = values.length;
  if (dtype === 'float32') return Float32Array.from(values);
  const out = new Uint16Array(n);
  const f = dtype === 'float16' ? FLOAT16 : BFLOAT16;
  for (let i = 0; i < n; i++) out[i] = encode(values[i], f);
  return out;
}

/** Widens stored data of `dtype` to float32 (exact for all three dtypes). */
export function decodeArray(data: HostArray, dtype: Dtype): Float32Array {
  if (dtype === 'float32') return Float32Array.from(data as Float32Array);
  const bits = data as Uint16Array;
  if (dtype === 'bfloat16') {
    const words = new Uint32Array(bits.length);
    for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
    return new Float32Array(words.buffer);
  }
  const table = float16Values();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** Rounds a value to the nearest value representable in `dtype` (as a number). */
export function roundTo(x: number, dtype: Dtype): number {
  if (dtype === 'float32') return Math.fround(x);
  // Internal: encode() and the tables directly, without the public conversions' argument checks.
  if (dtype === 'float16') return float16Values()[encode(x, FLOAT16)];
  return bfloat16Value(encode(x, BFLOAT16));
}

/** Distance from |x| to the next larger representable magnitude in `dtype` (the ulp at x). */
export function ulp(dtype: Dtype, x: number): number {
  const abs = Math.abs(x);
  const [mantissaBits, minExponent] =
    dtype === 'float16' ? [10, -14] : dtype === 'bfloat16' ? [7, -126] : [23, -126];
  if (!Number.isFinite(abs)) return Infinity;
  const e = abs === 0 ? minExponent : Math.max(exponentOf(abs), minExponent);
  return 2 ** (e - mantissaBits);
}

export function isDtype(x: unknown): x is Dtype {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}
