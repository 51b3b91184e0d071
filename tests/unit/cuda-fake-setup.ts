/**
 * One fake kernel build for a whole test file over the fake driver. Call useFakeBuild at the top level of the file.
 */
import { after, beforeEach } from 'node:test';
import { useDriverForTesting } from '../../src/backend/cuda/runtime.js';
import { forgetManifestForTesting } from '../../src/backend/cuda/table.js';
import { type FakeBuild, writeFakeBuild } from './cuda-fake-build.js';
import { FakeDriver, type FakeOptions } from './cuda-fake-driver.js';

export interface FakeBuildInUse {
  build: FakeBuild;
  /** A fresh fake driver over the build's kernels, made the backend's driver. */
  newFake(options?: Omit<FakeOptions, 'kernels'>): FakeDriver;
}

/**
 * Points FLASH_ATTN_KERNEL_DIR at `build`. Each test then starts with the manifest unread. When the file's tests
 * end, the real driver is back and the build's folder is removed.
 */
export function useFakeBuild(build: FakeBuild = writeFakeBuild()): FakeBuildInUse {
  process.env.FLASH_ATTN_KERNEL_DIR = build.directory;
  beforeEach(() => forgetManifestForTesting());
  after(() => {
    useDriverForTesting(undefined);
    build.dispose();
  });
  return {
    build,
    newFake(options = {}) {
      const fake = new FakeDriver({ ...options, kernels: build.kernels });
      useDriverForTesting(fake);
      return fake;
    },
  };
}
