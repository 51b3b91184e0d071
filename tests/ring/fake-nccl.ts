/**
 * The fake NCCL (fake-nccl.c) for tests without GPUs: built once per test file with the system C compiler, loaded
 * by the bindings for one test at a time, and its test hooks, which count and inject failures.
 */
import { createRequire } from 'node:module';
import { afterEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as nccl from '../../src/ring/nccl.js';
import { setEnv } from '../support/env.js';
import { buildFakeLibrary } from '../support/fake-library.js';

const SOURCE = fileURLToPath(new URL('../../../tests/ring/fake-nccl.c', import.meta.url));

/** Builds the fake NCCL; undefined (the tests that need it skip) without a C compiler. */
export function buildFakeNccl(): string | undefined {
  return buildFakeLibrary(SOURCE, 'libnccl.so.2');
}

/** The skip option of a test that needs the fake. */
export function needsFake(path: string | undefined): string | false {
  return path ? false : 'no C compiler to build the fake NCCL';
}

let restoreLibrary: (() => void) | undefined;
/** Points the bindings at `path` for one test; the afterEach below puts the variable back and forgets the library loaded. */
export function useNcclLibrary(path: string): void {
  restoreLibrary = setEnv({ FLASH_ATTN_NCCL_LIBRARY: path });
  nccl.resetNcclForTests();
}
afterEach(() => {
  restoreLibrary?.();
  restoreLibrary = undefined;
  nccl.resetNcclForTests();
});

/** The fake's test hooks (fake-nccl.c). */
export interface FakeNcclHooks {
  /** Communicators created and not yet destroyed. */
  liveComms(): number;
  /** Make the next n ncclCommDestroy fail. */
  failDestroys(n: number): void;
  /** Make the next n outermost ncclGroupEnd fail with ncclInternalError. */
  failGroupEnds(n: number): void;
  /** ncclCommInitRank calls so far. */
  initRankCalls(): number;
  /** Sends and receives queued so far. */
  enqueued(): number;
}

export function fakeHooks(path: string): FakeNcclHooks {
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as { load(path: string): { func(signature: string): (...args: unknown[]) => unknown } };
  // The same file as the bindings load: one copy of the library, so one set of counters.
  const lib = koffi.load(path);
  return {
    liveComms: lib.func('int fakeNcclLiveComms()') as () => number,
    failDestroys: lib.func('void fakeNcclFailDestroys(int n)') as (n: number) => void,
    failGroupEnds: lib.func('void fakeNcclFailGroupEnds(int n)') as (n: number) => void,
    initRankCalls: lib.func('int fakeNcclInitRankCalls()') as () => number,
    enqueued: lib.func('int fakeNcclEnqueued()') as () => number,
  };
}
