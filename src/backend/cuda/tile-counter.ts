/**
 * The counter from which a persistent Hopper kernel's blocks claim their next tile or item (FlashParams.tile_counter).
 */
import type { CudaDevice } from './runtime.js';
import { CudaStorage } from './storage.js';

/**
 * Runs `launch` with the address of 4 bytes of this call's own, zeroed (the kernel's counter must read 0 at launch),
 * and frees them, in stream order behind whatever `launch` enqueued, once it returns or throws.
 */
export function withTileCounter<T>(device: CudaDevice, launch: (counter: bigint) => T): T {
  const counter = CudaStorage.allocate(device, 'float32', 1);
  try {
    device.fillBytes(counter.pointer, 0, counter.byteLength);
    return launch(counter.pointer);
  } finally {
    counter.dispose();
  }
}
