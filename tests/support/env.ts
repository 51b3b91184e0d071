/** Environment variables for the length of one test. */

type EnvVars = Record<string, string | undefined>;

function apply(values: EnvVars): void {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

/**
 * Sets (a string) or unsets (undefined) each of `vars` and returns what puts back what each was before. For a span
 * no one function covers: from a beforeEach to its afterEach, or from a file's top level to its after hook.
 */
export function setEnv(vars: EnvVars): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  apply(vars);
  return () => apply(saved);
}

/**
 * Runs `body` with each of `vars` set (a string) or unset (undefined), then puts back what each was before, also
 * when `body` throws. For a synchronous body only: given an async one it would restore at the first await, while
 * the body still runs; use withEnvAsync for those.
 */
export function withEnv<T>(vars: EnvVars, body: () => T): T {
  const restore = setEnv(vars);
  try {
    return body();
  } finally {
    restore();
  }
}

/**
 * withEnv for an async body: puts the variables back once the body's promise settles (also when it rejects), not
 * when it first awaits. A function of its own rather than withEnv checking for a returned promise, so that which
 * one a test calls says how long the variables hold. Meanwhile they are the whole process's: this relies on the
 * tests of a file running one at a time (node:test's default), so no other test sees them.
 */
export async function withEnvAsync<T>(vars: EnvVars, body: () => Promise<T>): Promise<T> {
  const restore = setEnv(vars);
  try {
    return await body();
  } finally {
    restore();
  }
}
