/** Every error flash-attn throws on purpose is a FlashAttentionError with a stable `code`. */
export class FlashAttentionError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument has the wrong shape or rank, or sizes that do not fit together. */
export class ShapeError extends FlashAttentionError {
  constructor(message: string) {
    super('ERR_SHAPE', message);
  }
}

/**
 * A dtype is not one flash-attn knows, not one the backend supports, or not the one the call needs (q's, float32 lse);
 * or a value a float16 / bfloat16 conversion cannot take (not a number, not a 16-bit pattern).
 */
export class DtypeError extends FlashAttentionError {
  constructor(message: string) {
    super('ERR_DTYPE', message);
  }
}

/** A device name is malformed or names no device here, or tensors that must share a device do not. */
export class DeviceError extends FlashAttentionError {
  constructor(message: string) {
    super('ERR_DEVICE', message);
  }
}

/** An option (softmaxScale, windowSize, ...) has a value outside its domain. */
export class OptionError extends FlashAttentionError {
  constructor(message: string) {
    super('ERR_OPTION', message);
  }
}

/** A tensor was used after dispose(). */
export class DisposedError extends FlashAttentionError {
  constructor(message: string) {
    super('ERR_DISPOSED', message);
  }
}

/** The problem is larger than the backend can address. */
export class SizeLimitError extends FlashAttentionError {
  constructor(message: string) {
    super('ERR_SIZE_LIMIT', message);
  }
}

/** A backend (CUDA, NCCL) is not available on this machine. */
export class BackendUnavailableError extends FlashAttentionError {
  constructor(message: string) {
    super('ERR_BACKEND_UNAVAILABLE', message);
  }
}

/** Describes a value for an error message: shapes as [a, b], strings quoted. */
export function describe(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'bigint') return `${value}n`; // String(1n) is '1', which reads as the number a check wanted
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return String(value);
}
