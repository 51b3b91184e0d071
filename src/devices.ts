import { registeredBackends } from './backend.js';
import { FlashAttentionError } from './errors.js';

/** Every device this process can use, like `['cpu:0', ..., 'cpu:7', 'cuda:0']`. */
export function devices(): string[] {
  const names: string[] = [];
  for (const backend of registeredBackends()) {
    let count = 0;
    try {
      count = backend.deviceCount();
    } catch (error) {
      // A backend whose driver is missing simply has no devices here.
      if (!(error instanceof FlashAttentionError)) throw error;
    }
    for (let i = 0; i < count; i++) names.push(`${backend.kind}:${i}`);
  }
  return names;
}
