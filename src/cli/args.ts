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

/** --causal's modes: both (the default), yes or no. */
export function causalModes(raw: string | undefined): boolean[] {
  const modes: Record<string, boolean[]> = { both: [false, true], yes: [true], no: [false] };
  const chosen = modes[raw ?? 'both'];
  if (!chosen) throw new FlashAttentionError('ERR_USAGE', `--causal: expected both, yes or no, got '${raw}'`);
  return chosen;
}

/** A flag that takes one integer (a list of one), or the fallback when absent. */
export function single(flag: string, raw: string | undefined, fallback: number, min = 1): number {
  const values = list(flag, raw, [fallback], min);
  if (values.length !== 1) throw new FlashAttentionError('ERR_USAGE', `--${flag}: expected one integer here, got '${raw}'`);
  return values[0];
}
