/** Environment variables for the length of one test. */

/**
 * Runs `body` with each of `vars` set (a string) or unset (undefined), then puts back what each was before, also
 * when `body` throws.
 */
export function withEnv<T>(vars: Record<string, string | undefined>, body: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(vars);
  try {
    return body();
  } finally {
    apply(saved);
  }
}
