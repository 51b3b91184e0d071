/**
 * Releasing several native resources at once (streams, modules, communicators, device buffers): one release
 * that fails must not leak the ones after it, and a result built halfway must not leak the parts already made.
 */

/** Anything with a dispose(): storages, tensors. */
export interface Releasable {
  dispose(): void;
}

/** The releases of `resources` for releaseAll and its kin: each one's dispose(), an absent one (undefined) skipped. */
export function disposals(resources: Iterable<Releasable | undefined>): (() => void)[] {
  return [...resources].map((resource) => () => resource?.dispose());
}

/**
 * Runs every release, even after one throws, then throws the first error: the later ones usually repeat it
 * (a broken context fails every call), and the first names the cause.
 */
export function releaseAll(releases: Iterable<() => void>): void {
  let failure: { error: unknown } | undefined;
  for (const release of releases) {
    try {
      release();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

/**
 * releaseAll on a path that is already throwing: the error in flight is the one to report, so a release that
 * fails too becomes a warning instead of replacing it.
 */
export function releaseAfterError(releases: Iterable<() => void>): void {
  try {
    releaseAll(releases);
  } catch (error) {
    process.emitWarning(
      `flash-attn: releasing resources after an error failed too (${error instanceof Error ? error.message : String(error)}); some may have leaked`,
      'ResourceLeakWarning',
    );
  }
}

/**
 * Builds a result out of several resources: `keep` records each one as it is made. If `build` throws, no caller
 * will ever hold the parts made so far, so they are disposed here (newest first) before the error goes on.
 */
export function disposeOnThrow<T>(build: (keep: <R extends Releasable>(resource: R) => R) => T): T {
  const kept: Releasable[] = [];
  try {
    return build((resource) => {
      kept.push(resource);
      return resource;
    });
  } catch (error) {
    releaseAfterError(disposals(kept.reverse()));
    throw error;
  }
}

/**
 * Runs `body`, then the releases `after()` lists whatever happens: on success every one even after one throws (then
 * the first error); on a throw the body's error goes on and a failing release only warns (releaseAfterError).
 */
export function thenRelease<T>(body: () => T, after: () => Iterable<() => void>): T {
  let result: T;
  try {
    result = body();
  } catch (error) {
    releaseAfterError(after());
    throw error;
  }
  releaseAll(after());
  return result;
}

/** thenRelease for an asynchronous body. */
export async function thenReleaseAsync<T>(body: () => Promise<T>, after: () => Iterable<() => void>): Promise<T> {
  let result: T;
  try {
    result = await body();
  } catch (error) {
    releaseAfterError(after());
    throw error;
  }
  releaseAll(after());
  return result;
}
