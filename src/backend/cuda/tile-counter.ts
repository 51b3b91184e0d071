/**
 * The counters from which a persistent Hopper kernel's blocks claim their next tile or item (FlashParams.tile_counter).
 *
 * A counter must read 0 when its kernel starts. Each device keeps a ring of counters, all zeroed at once in the device's
 * stream when the ring comes round, and hands each launch the next unused one: a fill and an allocation per call cost
 * up to 2% of the shortest forwards (bench/NOTES.md C1). The zeroing is safe without a wait because every kernel that
 * reads a counter runs in that same stream: the fill starts only after the last of them has finished.
 */
import type { CUdeviceptr } from './driver.js';
import type { CudaDevice } from './runtime.js';

/** Counters per ring: the ring is zeroed once every this many persistent launches. */
export const TILE_COUNTERS_PER_RING = 1024;
const COUNTER_BYTES = 4;
/** The device memory a device's ring holds from its first persistent launch until the device is disposed. */
export const TILE_COUNTER_RING_BYTES = TILE_COUNTERS_PER_RING * COUNTER_BYTES;

interface CounterRing {
  readonly base: CUdeviceptr;
  /** The next counter still zero, or TILE_COUNTERS_PER_RING once all have been handed out. */
  next: number;
}

const rings = new WeakMap<CudaDevice, CounterRing>();

function ringOf(device: CudaDevice): CounterRing {
  let ring = rings.get(device);
  if (ring === undefined) {
    const base = device.allocate(TILE_COUNTER_RING_BYTES);
    // Registered as used up, so the fill below zeroes it before its first counter is handed out.
    ring = { base, next: TILE_COUNTERS_PER_RING };
    rings.set(device, ring);
    device.onDispose(() => {
      rings.delete(device);
      device.free(base);
    });
  }
  if (ring.next === TILE_COUNTERS_PER_RING) {
    device.fillBytes(ring.base, 0, TILE_COUNTER_RING_BYTES);
    ring.next = 0;
  }
  return ring;
}

/**
 * The address of a counter for the next persistent launch: it reads 0 in stream order, and no other launch is given
 * it until the ring has been zeroed again (a counter taken by a call that then enqueues nothing is simply skipped).
 */
export function nextTileCounter(device: CudaDevice): bigint {
  const ring = ringOf(device);
  const counter = ring.base + BigInt(ring.next * COUNTER_BYTES);
  ring.next += 1;
  return counter;
}
