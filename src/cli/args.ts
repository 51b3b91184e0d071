import { FlashAttentionError } from '../errors.js';

/** A comma-separated list of integers >= min from a command-line flag, or the fallback when absent. */
export function list(flag: string, raw: string | undefined, fallback: number[], min = 1): number[] {
  if (raw === undefined) return fallback;
  const values = raw.split(',').map(Number);
  if (values.some((x) => !Number.isInteger(x) || x < min)) {
    throw new FlashAttentionError('ERR_USAGE', `--${flag}: expected integers >= ${min} separated by commas, got '${raw}'`);
  }
  return values;
}
