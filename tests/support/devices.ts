/**
 * Which devices the backend suite runs on, and which dtypes each supports. The same suite runs unchanged
 * on every device: `FLASH_ATTN_TEST_DEVICES=cuda:0 npm test` checks a GPU against the same grid.
 */
import '../../src/index.js';  // the package's entry registers the backends
import { deviceListing } from '../../src/devices.js';
import type { Dtype } from '../../src/dtype.js';

/**
 * `reason` (why the GPU tests cannot run here) passed through, or thrown where FLASH_ATTN_REQUIRE_GPU=1: on a
 * GPU host a driver or koffi that fails to load must fail the suite, not turn every GPU test into a skip.
 */
export function gpuAbsence(reason: string | false): string | false {
  if (reason && process.env.FLASH_ATTN_REQUIRE_GPU === '1') throw new Error(`FLASH_ATTN_REQUIRE_GPU=1, but ${reason}`);
  return reason;
}

/** FLASH_ATTN_TEST_DEVICES (comma list) if set, else 'cpu:0' plus 'cuda:0' when this machine has it. */
export function testDevices(): string[] {
  const raw = process.env.FLASH_ATTN_TEST_DEVICES;
  if (raw !== undefined && raw.trim() !== '') {
    return raw.split(',').map((name) => name.trim()).filter((name) => name !== '');
  }
  const { usable, unusable } = deviceListing();
  const hasGpu = usable.includes('cuda:0');
  const why = unusable.find((d) => d.name === 'cuda:0' || d.name === 'cuda')?.reason;
  gpuAbsence(!hasGpu && `cuda:0 is not among the devices this process can use${why === undefined ? '' : ` (${why})`}`);
  return hasGpu ? ['cpu:0', 'cuda:0'] : ['cpu:0'];
}

/** Dtypes a device is tested with: float32 only where the backend promises it (the CPU). */
export function dtypesFor(device: string): Dtype[] {
  return device.startsWith('cpu') ? ['float32', 'float16', 'bfloat16'] : ['float16', 'bfloat16'];
}

export function isCpu(device: string): boolean {
  return device.startsWith('cpu');
}
