import { type DeviceKind, parseDevice } from './device.js';
import type { Dtype, HostArray } from './dtype.js';
import { DeviceError, describe } from './errors.js';
import type { Storage } from './storage.js';

/**
 * One attention call after validation: every backend receives exactly this. The mask is already in its
 * general form: key j is allowed for query i iff
 *   (windowLeft  < 0 || j >= i + diagonalOffset - windowLeft) &&
 *   (windowRight < 0 || j <= i + diagonalOffset + windowRight)
 * `diagonalOffset` is lk - lq for an ordinary call (bottom-right alignment); ring attention sets it from
 * the global positions of the query and key blocks it pairs.
 */
export interface AttentionProblem {
  n: number;
  lq: number;
  lk: number;
  h: number;
  hk: number;
  d: number;
  dtype: Dtype;
  device: string;
  softmaxScale: number;
  windowLeft: number;
  windowRight: number;
  diagonalOffset: number;
  /** dtype of o (forward) and of dq, dk, dv (backward); float32 lets ring attention merge before rounding. */
  outDtype: Dtype;
  /**
   * Backward only: dq, dk, dv must be bitwise repeatable (no float32 atomics whose order varies between
   * runs). The forward is repeatable in either mode; a backend that always is may ignore the flag.
   */
  deterministic: boolean;
  /**
   * Backward only: the lse (and o) given cover keys beyond this call's, as in a ring step, whose lse is the whole
   * row's. The CPU backward then takes the lse as given rather than refining it from this call's keys.
   */
  partialKeys?: boolean;
}

export interface ForwardResult {
  /** [n, lq, h, d] in outDtype */
  out: Storage;
  /** [n, h, lq] float32 */
  lse: Storage;
}

export interface BackwardResult {
  dq: Storage;
  dk: Storage;
  dv: Storage;
}

/** Which kernels a call would launch, named as FLASH_ATTN_LOG names them; explain() reports it. */
export interface KernelPlan {
  /** In launch order; empty where nothing is launched (on CUDA: lq = 0 or lk = 0). */
  forward: string[];
  backward: string[];
  /** Why the forward and the backward run what they do (on CUDA: the Hopper kernels, or why not). */
  reason: string;
}

/** What a backend must provide. Backends never validate: the front door already did. */
export interface Backend {
  readonly kind: DeviceKind;
  /** Number of devices of this kind on this machine; throws BackendUnavailableError when there is none. */
  deviceCount(): number;
  /**
   * Why device `ordinal` of this kind cannot be used (a GPU older than the kernels), or undefined where it can;
   * devices() leaves such a device out. Absent: every device can be used.
   */
  deviceRefusal?(ordinal: number): string | undefined;
  /** Largest element count of one tensor the backend can address. */
  readonly maxElements: number;
  /** Whether attention runs in `dtype` here (q, k, v); a tensor of any dtype may live on every backend (lse is float32). */
  supportsDtype(dtype: Dtype): boolean;
  /** Puts host data (in the storage format of `dtype`, owned by the callee from now on) onto `device`. */
  upload(data: HostArray, dtype: Dtype, device: string): Storage;
  forward(p: AttentionProblem, q: Storage, k: Storage, v: Storage): ForwardResult;
  backward(
    p: AttentionProblem,
    dout: Storage,
    q: Storage,
    k: Storage,
    v: Storage,
    out: Storage,
    lse: Storage,
  ): BackwardResult;
  /** Which kernels forward and backward would launch for `p` and these inputs, without running anything. */
  plan(p: AttentionProblem, q: Storage, k: Storage, v: Storage): KernelPlan;
  /** Wraps `length` elements at a device address owned by someone else (not freed on dispose). */
  wrap?(pointer: bigint, dtype: Dtype, length: number, device: string): Storage;
}

const registry = new Map<DeviceKind, Backend>();

export function registerBackend(backend: Backend): void {
  registry.set(backend.kind, backend);
}

export function backendFor(kind: DeviceKind): Backend {
  const backend = registry.get(kind);
  if (!backend) {
    throw new DeviceError(`device: no backend is registered for ${describe(kind)}; 'cpu' is always available`);
  }
  return backend;
}

/** The backend of a device name like 'cpu:1' or 'cuda'. */
export function backendOfDevice(device: string): Backend {
  return backendFor(parseDevice(device).kind);
}

export function registeredBackends(): Backend[] {
  return [...registry.values()];
}
