import { registeredBackends } from './backend.js';
import { DeviceError, FlashAttentionError } from './errors.js';

/** A device of this machine that flash-attn cannot use, and why. */
export interface UnusableDevice {
  name: string;
  reason: string;
}

/** Every device this process can use, like `['cpu:0', ..., 'cpu:7', 'cuda:0']`. */
export function devices(): string[] {
  return deviceListing().usable;
}

/**
 * devices() (`usable`) and what it leaves out (`unusable`), each with the reason: a device of this machine flash-attn
 * cannot use (a GPU older than the kernels), or a whole backend, named by its kind, that cannot be loaded here (no
 * CUDA driver).
 */
export function deviceListing(): { usable: string[]; unusable: UnusableDevice[] } {
  const usable: string[] = [];
  const unusable: UnusableDevice[] = [];
  for (const backend of registeredBackends()) {
    let count = 0;
    try {
      count = backend.deviceCount();
    } catch (error) {
      // A backend whose driver is missing simply has no devices here; a misconfigured one (DeviceError, e.g. a bad
      // FLASH_ATTN_CPU_DEVICES) is the caller's to see, not a silently shorter list.
      if (!isUnavailable(error)) throw error;
      unusable.push({ name: backend.kind, reason: (error as Error).message });
    }
    for (let i = 0; i < count; i++) {
      const name = `${backend.kind}:${i}`;
      let reason: string | undefined;
      try {
        reason = backend.deviceRefusal?.(i);
      } catch (error) {
        // A device the driver cannot even describe cannot be used either.
        if (!isUnavailable(error)) throw error;
        reason = (error as Error).message;
      }
      if (reason === undefined) usable.push(name);
      else unusable.push({ name, reason });
    }
  }
  return { usable, unusable };
}

function isUnavailable(error: unknown): boolean {
  return error instanceof FlashAttentionError && !(error instanceof DeviceError);
}
