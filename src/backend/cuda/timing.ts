/** GPU-side timing for the benchmark: CUDA events around each repeat, on the device's stream. */
import { CU_EVENT_DEFAULT, type CUevent } from './driver.js';
import { cudaDevice } from './runtime.js';
import { canonicalDevice } from '../../device.js';
import { thenReleaseAsync } from '../../release.js';

/**
 * Milliseconds per repeat of `run` (which only enqueues work), measured between CUDA events recorded on
 * the device's stream. Warm up before calling. Waits for the work without blocking the event loop.
 */
export async function timeOnDevice(device: string, run: () => void, repeats: number): Promise<number[]> {
  const gpu = cudaDevice(canonicalDevice(device));
  const events: CUevent[] = [];
  // Every event is destroyed, even after one destroy fails; on a failed run its error is the one that goes on.
  return thenReleaseAsync(
    async () => {
      for (let i = 0; i <= repeats; i++) events.push(gpu.createEvent(CU_EVENT_DEFAULT));
      gpu.recordEvent(events[0]);
      for (let i = 1; i <= repeats; i++) {
        run();
        gpu.recordEvent(events[i]);
      }
      await gpu.whenComplete(events[repeats]);
      return events.slice(1).map((end, i) => gpu.elapsedMilliseconds(events[i], end));
    },
    () => events.map((event) => () => gpu.destroyEvent(event)),
  );
}

/** Blocks until all work enqueued on the device so far has finished. */
export function synchronize(device: string): void {
  cudaDevice(canonicalDevice(device)).synchronize();
}

/** The card's name as the driver reports it, like 'NVIDIA H100 80GB HBM3'. */
export function deviceName(device: string): string {
  return cudaDevice(canonicalDevice(device)).name;
}
