// The real koffi declarations against a fake libcuda (tests/unit/fake-libcuda.c, built with the host C
// compiler): cuTensorMapEncodeTiled receives the map address aligned, the dims, strides and box arrays as
// pointers and the settings as ints, and what it writes comes back through CudaDevice.encodeTensorMap;
// cuLaunchKernelEx receives a CUlaunchConfig laid out as cuda.h has it.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION,
  CU_TENSOR_MAP_ALIGNMENT,
  CU_TENSOR_MAP_BYTES,
  type CUfunction,
  loadDriver,
} from '../../src/backend/cuda/driver.js';
import { cudaDevice, useDriverForTesting } from '../../src/backend/cuda/runtime.js';
import { attentionTensorMap } from '../../src/backend/cuda/tma.js';
import { CudaError } from '../../src/index.js';
import { setEnv, withEnv } from '../support/env.js';
import { buildFakeLibrary } from '../support/fake-library.js';
import { decodeFakeTensorMap } from './cuda-fake-driver.js';

const SOURCE = fileURLToPath(new URL('../../../tests/unit/fake-libcuda.c', import.meta.url));

/** Builds the fake libcuda with the system C compiler; undefined (tests skipped) without one. */
function buildFake(...defines: string[]): string | undefined {
  return buildFakeLibrary(SOURCE, 'libcuda.so.1', defines);
}

const fake = buildFake();
/** A driver from before CUDA 12.0: no cuLaunchKernelEx. */
const olderFake = buildFake('-DWITHOUT_LAUNCH_EX');
// The launches below expect the default (overlap allowed), whatever the environment running the tests says.
// (FLASH_ATTN_LIBCUDA, read only when a driver loads, is set by each test around its loadDriver alone.)
const restorePdl = setEnv({ FLASH_ATTN_PDL: undefined });
after(() => {
  useDriverForTesting(undefined);
  restorePdl();
  for (const lib of [fake, olderFake]) if (lib) rmSync(dirname(lib), { recursive: true, force: true });
});

test('cuTensorMapEncodeTiled through koffi: aligned slot, arrays and settings arrive, the map comes back', { skip: fake ? false : 'no C compiler to build the fake libcuda' }, () => {
  const driver = withEnv({ FLASH_ATTN_LIBCUDA: fake }, loadDriver);
  const slot = driver.tensorMapSlot();
  assert.equal(slot.address % BigInt(CU_TENSOR_MAP_ALIGNMENT), 0n, 'the slot is aligned');
  assert.equal(driver.tensorMapSlot(), slot, 'one slot per driver');
  useDriverForTesting(driver);
  const device = cudaDevice('cuda:0');
  assert.deepEqual(device.computeCapability, [9, 0]);
  const geometry = attentionTensorMap({ n: 3, rows: 1000, heads: 16, d: 128 }, 96);
  const address = 0x7f12_3456_7800n;
  const bytes = device.encodeTensorMap(geometry, address);
  assert.equal(bytes.length, CU_TENSOR_MAP_BYTES);
  assert.deepEqual(decodeFakeTensorMap(bytes), {
    globalAddress: address,
    globalDim: [128n, 1000n, 16n, 3n],
    globalStrides: [16n * 256n, 256n, 1000n * 16n * 256n],
    boxDim: [64, 96, 1, 1],
    elementStrides: [1, 1, 1, 1],
    settings: [1, 4, 0, 3, 3, 0],
  });
  // A copy: a second encode does not change the first map.
  const second = device.encodeTensorMap(attentionTensorMap({ n: 1, rows: 5, heads: 1, d: 64 }, 128), 0x1000n);
  assert.equal(decodeFakeTensorMap(bytes).globalAddress, address);
  assert.equal(decodeFakeTensorMap(second).globalAddress, 0x1000n);
  // The fake refuses rank 3 as a real driver refuses a bad argument: a CudaError naming the call.
  assert.throws(
    () => device.encodeTensorMap({ ...geometry, globalDim: [128, 1000, 16] as never }, address),
    (e: unknown) => e instanceof CudaError && e.call === 'cuTensorMapEncodeTiled' && e.result === 1,
  );
});

test('cuLaunchKernelEx through koffi: grid, block, shared bytes, stream and the one attribute arrive where cuda.h puts them', { skip: fake ? false : 'no C compiler to build the fake libcuda' }, () => {
  const driver = withEnv({ FLASH_ATTN_LIBCUDA: fake }, loadDriver);
  assert.equal(typeof driver.cuLaunchKernelEx, 'function', 'the fake has the symbol');
  useDriverForTesting(driver);
  const device = cudaDevice('cuda:0');
  assert.equal(device.canOverlapLaunches, true);
  device.launch(0x1234n as CUfunction, [7, 8, 9], 384, 200_000, new Uint8Array(64), true);
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const report = koffi.load(fake as string).func('void fakeLastLaunchConfig(_Out_ uint32_t *out)');
  const fields = new Uint32Array(14);
  report(fields);
  assert.deepEqual([...fields.slice(0, 13)], [
    7, 8, 9, 384, 1, 1, 200_000, 0x12345678, 0xabcd, 1, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, 1, 1,
  ]);
});

test('a libcuda without cuLaunchKernelEx loads; its devices cannot overlap launches and launch with cuLaunchKernel', { skip: olderFake ? false : 'no C compiler to build the fake libcuda' }, () => {
  const driver = withEnv({ FLASH_ATTN_LIBCUDA: olderFake }, loadDriver);
  assert.equal(driver.cuLaunchKernelEx, undefined);
  useDriverForTesting(driver);
  const device = cudaDevice('cuda:0');
  assert.equal(device.canOverlapLaunches, false);
  device.launch(0x1234n as CUfunction, [1, 1, 1], 32, 0, new Uint8Array(8), true);
});
