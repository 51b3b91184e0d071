/**
 * What flash-attn needs of a GPU, read from the device itself without a context: its name, compute capability and
 * memory-pool support. A device is set up only once it passes (runtime.ts CudaDevice), and devices() leaves out one
 * that does not, so that nothing picks a GPU by default that its first call would refuse.
 */
import {
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
  CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED,
  type CUdevice,
  type CUresult,
  type CudaDriver,
} from './driver.js';

/** The oldest GPUs the kernels are compiled for: sm_80 (Ampere). */
const MIN_COMPUTE_CAPABILITY_MAJOR = 8;

export interface DeviceFacts {
  name: string;
  computeCapability: readonly [number, number];
  memoryPools: boolean;
}

/** The facts of the device behind `handle`; `check` turns a failing driver call into its CudaError. */
export function readDeviceFacts(
  driver: CudaDriver, handle: CUdevice, check: (result: CUresult, call: string) => void,
): DeviceFacts {
  const attribute = (which: number): number => {
    const value: [number] = [0];
    check(driver.cuDeviceGetAttribute(value, which, handle), 'cuDeviceGetAttribute');
    return value[0];
  };
  const buffer = new Uint8Array(256);
  check(driver.cuDeviceGetName(buffer, buffer.length, handle), 'cuDeviceGetName');
  const end = buffer.indexOf(0);
  return {
    name: new TextDecoder().decode(buffer.subarray(0, end < 0 ? buffer.length : end)),
    computeCapability: [
      attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
      attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
    ],
    memoryPools: attribute(CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED) === 1,
  };
}

/** Why `cuda:<ordinal>` cannot run flash-attn, or undefined where it can. */
export function deviceRefusal(ordinal: number, facts: DeviceFacts): string | undefined {
  const label = `cuda:${ordinal} (${facts.name})`;
  // The kernels are built for sm_80 and newer (plus their PTX): an older card would fail at its first module load with
  // CUDA_ERROR_NO_BINARY_FOR_GPU, which says nothing of what is needed.
  if (facts.computeCapability[0] < MIN_COMPUTE_CAPABILITY_MAJOR) {
    return `${label} is compute capability ${facts.computeCapability.join('.')}; flash-attn's kernels need ${MIN_COMPUTE_CAPABILITY_MAJOR}.0 or newer (Ampere, Ada, Hopper); the 'cpu' backend is available`;
  }
  if (!facts.memoryPools) {
    return `${label} does not support stream-ordered memory pools (cuMemAllocAsync), which flash-attn needs; the 'cpu' backend is available`;
  }
  return undefined;
}
