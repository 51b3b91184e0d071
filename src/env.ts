/**
 * A FLASH_ATTN_ setting from the environment, undefined where it is unset or empty: `FLASH_ATTN_X=` in a shell or a
 * CI file means "not set", for every variable of the package, rather than an empty path or name.
 */
export function envSetting(name: string): string | undefined {
  const value = process.env[name];
  return value === '' ? undefined : value;
}
