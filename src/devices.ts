import { registeredBackends } from './backend.js';
import { DeviceError, FlashAttentionError } from './errors.js';

/** Every device this process can use, like `['cpu:0', ..., 'cpu:7', 'cuda:0']`. */
export function devices(): string[] {
  const names: string[] = [];
  for (const backend of registeredBackends()) {
    let count = 0;
    try {
      count = backend.deviceCount();
    } catch (error) {
      // A backend whose driver is missing simply has no devices here; a misconfigured one (DeviceError, e.g. a bad
      // FLASH_ATTN_CPU_DEVICES) is the caller's to see, not a silently shorter list.
      if (!(error instanceof FlashAttentionError) || error instanceof DeviceError) throw error;
    }
    for (let i = 0; i < count; i++) names.push(`${backend.kind}:${i}`);
  }
  return names;
}
