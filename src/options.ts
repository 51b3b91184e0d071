import { OptionError, describe } from './errors.js';

/**
 * An option's value, or `fallback` where it was left out (undefined). null is a value like any other wrong one, so
 * the option's own check refuses it instead of taking it for the default, as `??` would.
 */
export function optionOr<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

/** snake_case to camelCase: the spelling a caller porting from flash_attn_jax or JAX may bring. */
function camelCase(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Checks that `options` is an object whose keys are all among `names`, so that a misspelt or foreign option
 * fails at once instead of being ignored. `aliases` names the option an unknown key probably meant, beyond
 * the snake_case spellings of `names`, which are recognized on their own.
 */
export function checkOptionKeys(options: unknown, names: readonly string[], aliases: Readonly<Record<string, string>> = {}): void {
  // A plain object only: a Map's entries are not properties, so they would be ignored without a word, and the
  // prototype's properties of a class instance would escape the unknown-key check below.
  const prototype = typeof options === 'object' && options !== null ? Object.getPrototypeOf(options) : undefined;
  if (prototype !== Object.prototype && prototype !== null) {
    throw new OptionError(`options: expected a plain object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options as object)) {
    if (names.includes(key)) continue;
    const meant = aliases[key] ?? (names.includes(camelCase(key)) ? camelCase(key) : undefined);
    const hint = meant ? ` (did you mean ${meant}?)` : '';
    throw new OptionError(`options: unknown option '${key}'${hint}; expected ${names.join(', ')}`);
  }
}
