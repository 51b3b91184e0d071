import { envSetting } from './env.js';
import { DeviceError, describe } from './errors.js';

export type DeviceKind = 'cpu' | 'cuda';

/** A parsed device name: `'cpu'` is `cpu:0`, `'cuda'` is `cuda:0`. */
export interface DeviceId {
  kind: DeviceKind;
  index: number;
}

// One spelling per device: 'cpu:01' is refused rather than read as cpu:1 (it would name a device that is not the
// one written, and two spellings of one device would compare unequal wherever names are compared).
const DEVICE_PATTERN = /^(cpu|cuda)(?::(0|[1-9]\d*))?$/;

export function parseDevice(name: unknown, argument = 'device'): DeviceId {
  const match = typeof name === 'string' ? DEVICE_PATTERN.exec(name) : null;
  if (!match) {
    throw new DeviceError(
      `${argument}: expected 'cpu', 'cpu:N', 'cuda' or 'cuda:N', got ${describe(name)}`,
    );
  }
  return { kind: match[1] as DeviceKind, index: match[2] === undefined ? 0 : Number(match[2]) };
}

/** The canonical spelling of a device: always with its index, like `cpu:0`. */
export function canonicalDevice(name: unknown, argument = 'device'): string {
  const { kind, index } = parseDevice(name, argument);
  return `${kind}:${index}`;
}

/**
 * Number of virtual CPU devices, like JAX's forced host device count. They share the host's memory
 * and compute; they exist so that multi-device code (ring attention) runs and is tested on one machine.
 */
// Read from FLASH_ATTN_CPU_DEVICES at first use, not when the module loads: a bad value then fails the call that
// needs the count with a DeviceError its caller can catch, rather than the import of the package.
let cpuDeviceCount: number | undefined;

/**
 * The most virtual CPU devices: far more than a ring on one host needs, and few enough that listing them stays
 * cheap (devices() names each one; a count of 2**40 used to hang there).
 */
export const MAX_CPU_DEVICES = 1024;

function checkCpuDeviceCount(count: unknown, argument: string, shown: unknown = count): number {
  if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > MAX_CPU_DEVICES) {
    throw new DeviceError(`${argument}: expected an integer in 1..${MAX_CPU_DEVICES}, got ${describe(shown)}`);
  }
  return count as number;
}

function readCpuDeviceCount(): number {
  const raw = envSetting('FLASH_ATTN_CPU_DEVICES');
  if (raw === undefined) return 8;
  // Decimal digits only: Number() would also take '0x10', '1e1' or ' 3 '.
  return checkCpuDeviceCount(/^\d+$/.test(raw) ? Number(raw) : NaN, 'FLASH_ATTN_CPU_DEVICES', raw);
}

export function getCpuDeviceCount(): number {
  cpuDeviceCount ??= readCpuDeviceCount();
  return cpuDeviceCount;
}

export function setCpuDeviceCount(count: number): void {
  cpuDeviceCount = checkCpuDeviceCount(count, 'count');
}
