import type { AttentionProblem } from './backend.js';
import { backendOfDevice } from './backend.js';
import {
  DeviceError,
  DtypeError,
  OptionError,
  ShapeError,
  SizeLimitError,
  describe,
} from './errors.js';
import { checkOptionKeys, optionOr } from './options.js';
import { type Tensor, checkTensor } from './tensor.js';

export interface AttentionOptions {
  /** Multiplies q·k before the softmax; default 1 / sqrt(d). */
  softmaxScale?: number;
  /** Same as windowSize[1] = 0 (bottom-right aligned when lq != lk). */
  isCausal?: boolean;
  /** [left, right], inclusive; -1 means unbounded on that side. Default [-1, -1]. */
  windowSize?: readonly [number, number];
  /**
   * Backward only: dq, dk, dv bitwise identical across runs on the same device, kernels and inputs, at the
   * price of one extra pass for dq (CUDA; the CPU backend is always deterministic). Default false. The
   * forward (o, lse) is bitwise repeatable in every mode, so the option changes nothing there.
   */
  deterministic?: boolean;
}

export const MAX_HEAD_DIM = 256;

function checkRank4(t: Tensor, name: string, dims: string): void {
  if (t.shape.length !== 4) {
    throw new ShapeError(`${name}: expected 4 dimensions ${dims}, got ${describe([...t.shape])}`);
  }
}

function checkDim(name: string, axis: string, expected: number, given: number, of: string): void {
  if (expected !== given) {
    throw new ShapeError(`${name}: expected ${axis} = ${expected} (as in ${of}), got ${given}`);
  }
}

function checkWindowValue(value: unknown, side: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -1) {
    throw new OptionError(`windowSize: expected ${side} to be an integer >= -1 (-1 = unbounded), got ${describe(value)}`);
  }
  return value;
}

const OPTION_NAMES = ['softmaxScale', 'isCausal', 'windowSize', 'deterministic'];
/** flash_attn_jax's `causal` (its snake_case spellings are recognized on their own). */
const OPTION_ALIASES = { causal: 'isCausal' };

/** Resolves options into the mask form every backend receives. */
function resolveOptions(options: AttentionOptions, d: number, lq: number, lk: number) {
  checkOptionKeys(options, OPTION_NAMES, OPTION_ALIASES);
  // optionOr: an option left out (undefined) takes its default; null is refused like any other value of the wrong
  // type, as the option types say.
  const softmaxScale = optionOr(options.softmaxScale, 1 / Math.sqrt(d));
  // Kernels take the scale as float32: a double beyond float32's range would turn into Infinity there.
  if (typeof softmaxScale !== 'number' || !Number.isFinite(Math.fround(softmaxScale))) {
    throw new OptionError(`softmaxScale: expected a finite number within float32 range, got ${describe(softmaxScale)}`);
  }
  const isCausal = optionOr(options.isCausal, false);
  if (typeof isCausal !== 'boolean') {
    throw new OptionError(`isCausal: expected a boolean, got ${describe(isCausal)}`);
  }
  const window = optionOr(options.windowSize, [-1, -1]);
  if (!Array.isArray(window) || window.length !== 2) {
    throw new OptionError(`windowSize: expected [left, right], got ${describe(window)}`);
  }
  const windowLeft = checkWindowValue(window[0], 'left');
  let windowRight = checkWindowValue(window[1], 'right');
  if (isCausal) windowRight = 0;
  const deterministic = optionOr(options.deterministic, false);
  if (typeof deterministic !== 'boolean') {
    throw new OptionError(`deterministic: expected a boolean (true: bitwise repeatable dq, dk, dv), got ${describe(deterministic)}`);
  }
  return { softmaxScale, windowLeft, windowRight, diagonalOffset: lk - lq, deterministic };
}

/**
 * Validates q, k, v and the options once, at the front door, and returns the problem every backend
 * receives. Throws a FlashAttentionError naming the argument before any work is done.
 */
export function attentionProblem(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions = {},
): AttentionProblem {
  checkTensor(q, 'q');
  checkTensor(k, 'k');
  checkTensor(v, 'v');
  checkRank4(q, 'q', '[n, lq, h, d]');
  checkRank4(k, 'k', '[n, lk, hk, d]');
  checkRank4(v, 'v', '[n, lk, hk, d]');
  const [n, lq, h, d] = q.shape;
  const [nk, lk, hk, dk] = k.shape;
  checkDim('k', 'n', n, nk, 'q');
  checkDim('v', 'n', n, v.shape[0], 'q');
  checkDim('v', 'lk', lk, v.shape[1], 'k');
  checkDim('v', 'hk', hk, v.shape[2], 'k');
  checkDim('k', 'd', d, dk, 'q');
  checkDim('v', 'd', d, v.shape[3], 'q');
  if (n < 1) throw new ShapeError(`q: expected n >= 1, got ${n}`);
  if (h < 1) throw new ShapeError(`q: expected h >= 1, got ${h}`);
  if (hk < 1) throw new ShapeError(`k: expected hk >= 1, got ${hk}`);
  if (h % hk !== 0) {
    throw new ShapeError(`k: expected hk to divide h (h = ${h}), got hk = ${hk}`);
  }
  if (d < 1 || d > MAX_HEAD_DIM) {
    throw new ShapeError(`q: expected head dim d in 1..${MAX_HEAD_DIM}, got ${d}`);
  }
  for (const [t, name] of [[k, 'k'], [v, 'v']] as const) {
    if (t.dtype !== q.dtype) throw new DtypeError(`${name}: expected dtype ${describe(q.dtype)} (the dtype of q), got ${describe(t.dtype)}`);
    if (t.device !== q.device) throw new DeviceError(`${name}: expected device ${describe(q.device)} (the device of q), got ${describe(t.device)}`);
  }
  const backend = backendOfDevice(q.device);
  if (!backend.supportsDtype(q.dtype)) {
    throw new DtypeError(`q: the ${backend.kind} backend does not support dtype ${describe(q.dtype)}`);
  }
  for (const [t, name] of [[q, 'q'], [k, 'k'], [v, 'v']] as const) {
    if (t.size > backend.maxElements) {
      throw new SizeLimitError(`${name}: ${t.size} elements exceed the ${backend.kind} backend's limit of ${backend.maxElements}`);
    }
  }
  return {
    n,
    lq,
    lk,
    h,
    hk,
    d,
    dtype: q.dtype,
    device: q.device,
    outDtype: q.dtype,
    ...resolveOptions(options, d, lq, lk),
  };
}

/** Checks the extra backward inputs (dout, out like q; lse [n, h, lq] float32) against the problem. */
export function checkBackwardInputs(p: AttentionProblem, dout: Tensor, out: Tensor, lse: Tensor): void {
  const qShape = [p.n, p.lq, p.h, p.d];
  for (const [t, name] of [[dout, 'dout'], [out, 'out']] as const) {
    checkTensor(t, name);
    if (t.shape.length !== 4 || t.shape.some((s, i) => s !== qShape[i])) {
      throw new ShapeError(`${name}: expected shape ${describe(qShape)} (the shape of q), got ${describe([...t.shape])}`);
    }
    if (t.dtype !== p.dtype) throw new DtypeError(`${name}: expected dtype ${describe(p.dtype)} (the dtype of q), got ${describe(t.dtype)}`);
    if (t.device !== p.device) throw new DeviceError(`${name}: expected device ${describe(p.device)} (the device of q), got ${describe(t.device)}`);
  }
  checkTensor(lse, 'lse');
  const lseShape = [p.n, p.h, p.lq];
  if (lse.shape.length !== 3 || lse.shape.some((s, i) => s !== lseShape[i])) {
    throw new ShapeError(`lse: expected shape ${describe(lseShape)} [n, h, lq], got ${describe([...lse.shape])}`);
  }
  if (lse.dtype !== 'float32') throw new DtypeError(`lse: expected dtype 'float32', got ${describe(lse.dtype)}`);
  if (lse.device !== p.device) throw new DeviceError(`lse: expected device ${describe(p.device)} (the device of q), got ${describe(lse.device)}`);
}

/** Whether key j is visible to query i under the problem's mask (the definition, for references and tests). */
export function isAllowed(p: Pick<AttentionProblem, 'windowLeft' | 'windowRight' | 'diagonalOffset'>, i: number, j: number): boolean {
  const diagonal = i + p.diagonalOffset;
  return (p.windowLeft < 0 || j >= diagonal - p.windowLeft) && (p.windowRight < 0 || j <= diagonal + p.windowRight);
}
