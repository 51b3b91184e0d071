// An empty FLASH_ATTN_ variable counts as unset: `FLASH_ATTN_LIBCUDA=` must not make the driver's path ''.
// (FLASH_ATTN_CPU_DEVICES='' is tested through the CLI, in cli-usage.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverLibraryName } from '../../src/backend/cuda/driver.js';
import { kernelDirectory } from '../../src/backend/cuda/table.js';
import { envSetting } from '../../src/env.js';
import { ncclLibraryPath } from '../../src/ring/nccl.js';
import { withEnv } from '../support/env.js';

test('envSetting: unset and empty are undefined, anything else is the value', () => {
  withEnv({ FLASH_ATTN_PROBE: undefined }, () => assert.equal(envSetting('FLASH_ATTN_PROBE'), undefined));
  withEnv({ FLASH_ATTN_PROBE: '' }, () => assert.equal(envSetting('FLASH_ATTN_PROBE'), undefined));
  withEnv({ FLASH_ATTN_PROBE: ' ' }, () => assert.equal(envSetting('FLASH_ATTN_PROBE'), ' '));
});

test('empty library and kernel paths fall back to the defaults', () => {
  const defaults = withEnv(
    { FLASH_ATTN_LIBCUDA: undefined, FLASH_ATTN_KERNEL_DIR: undefined, FLASH_ATTN_NCCL_LIBRARY: undefined },
    () => [driverLibraryName(), kernelDirectory(), ncclLibraryPath()],
  );
  assert.ok(defaults.every((path) => path !== ''));
  withEnv({ FLASH_ATTN_LIBCUDA: '', FLASH_ATTN_KERNEL_DIR: '', FLASH_ATTN_NCCL_LIBRARY: '' }, () => {
    assert.deepEqual([driverLibraryName(), kernelDirectory(), ncclLibraryPath()], defaults);
  });
  withEnv({ FLASH_ATTN_LIBCUDA: '/x/libcuda.so', FLASH_ATTN_KERNEL_DIR: '/x/kernels', FLASH_ATTN_NCCL_LIBRARY: '/x/nccl.so' }, () => {
    assert.deepEqual([driverLibraryName(), kernelDirectory(), ncclLibraryPath()], ['/x/libcuda.so', '/x/kernels', '/x/nccl.so']);
  });
});
