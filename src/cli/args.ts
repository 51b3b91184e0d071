import { canonicalDevice } from '../device.js';
import { devices } from '../devices.js';
import { DeviceError, FlashAttentionError } from '../errors.js';

/** A comma-separated list of integers >= min from a command-line flag, or the fallback when absent. */
export function list(flag: string, raw: string | undefined, fallback: number[], min = 1): number[] {
  if (raw === undefined) return fallback;
  const values = raw.split(',').map(Number);
  if (values.some((x) => !Number.isInteger(x) || x < min)) {
    throw new FlashAttentionError('ERR_USAGE', `--${flag}: expected integers >= ${min} separated by commas, got '${raw}'`);
  }
  return values;
}

/** A flag that names one of `choices` (the fallback when absent); its value there, or a usage error listing them. */
export function choice<T>(flag: string, raw: string | undefined, choices: Record<string, T>, fallback: string): T {
  const chosen = choices[raw ?? fallback];
  if (chosen === undefined) {
    const names = Object.keys(choices);
    throw new FlashAttentionError('ERR_USAGE', `--${flag}: expected ${names.slice(0, -1).join(', ')} or ${names.at(-1)}, got '${raw}'`);
  }
  return chosen;
}

/** --causal's modes: both (the default), yes or no. */
export const causalModes = (raw: string | undefined): boolean[] => choice('causal', raw, { both: [false, true], yes: [true], no: [false] }, 'both');

/** A flag that takes one integer (a list of one), or the fallback when absent. */
export function single(flag: string, raw: string | undefined, fallback: number, min = 1): number {
  const values = list(flag, raw, [fallback], min);
  if (values.length !== 1) throw new FlashAttentionError('ERR_USAGE', `--${flag}: expected one integer here, got '${raw}'`);
  return values[0];
}

/**
 * --device's value, spelt with its index. A malformed name is the user's typing (a usage error, exit 2); a device
 * that is well named but not there fails later, as the work does (exit 1).
 */
export function deviceFlag(raw: string): string {
  try {
    return canonicalDevice(raw, '--device');
  } catch (error) {
    if (error instanceof DeviceError) throw new FlashAttentionError('ERR_USAGE', error.message);
    throw error;
  }
}

/** --device's default: the first GPU that devices() lists (one flash-attn can use), else cpu:0. */
export function defaultDevice(): string {
  return devices().find((name) => name.startsWith('cuda:')) ?? 'cpu:0';
}

/** The largest head dim flash-attn takes (semantics.md). */
const MAX_HEAD_DIM = 256;

/** --d's head dims, each in 1..256: a usage error names the flag, not the q the bench would build from it. */
export function headDims(ds: number[]): number[] {
  const wrong = ds.find((d) => d > MAX_HEAD_DIM);
  if (wrong !== undefined) throw new FlashAttentionError('ERR_USAGE', `--d: head dims go up to ${MAX_HEAD_DIM}, got ${wrong}`);
  return ds;
}
