/**
 * The tensor maps a device has encoded lately, by everything cuTensorMapEncodeTiled was given (the geometry and the
 * address; the kernels' settings are the same for every map). Encoding one through koffi cost ~4 us of host time,
 * and a Hopper call encodes 4-5: about a fifth of its host time (bench/NOTES.md H1). A program calling attention in
 * a loop passes the same geometries over the same addresses again and again (its inputs, and outputs the memory
 * pool hands back at the same place). A map is a pure function of those arguments, so a remembered one is the one the driver would write.
 */
import type { TensorMapGeometry } from './tma.js';

/** Maps kept per device: 128 bytes each, plus the key; the oldest used goes first. */
export const TENSOR_MAP_CACHE_ENTRIES = 256;

/** Every argument a map depends on, as one string. */
export function tensorMapKey(map: TensorMapGeometry, address: bigint): string {
  return `${address}/${map.elementBytes}/${map.globalDim.join()}/${map.globalStrides.join()}/${map.boxDim.join()}/${map.elementStrides.join()}`;
}

/** The least recently used entry goes when a new one would pass `capacity` (a Map iterates in insertion order). */
export class TensorMapCache {
  readonly #maps = new Map<string, Uint8Array>();

  constructor(readonly capacity = TENSOR_MAP_CACHE_ENTRIES) {}

  /** A copy of the map stored under `key`, or undefined. */
  get(key: string): Uint8Array | undefined {
    const bytes = this.#maps.get(key);
    if (bytes === undefined) return undefined;
    this.#maps.delete(key);
    this.#maps.set(key, bytes);
    return bytes.slice();
  }

  /** Keeps a copy of `bytes` under `key`. */
  set(key: string, bytes: Uint8Array): void {
    this.#maps.delete(key);
    if (this.#maps.size >= this.capacity) this.#maps.delete(this.#maps.keys().next().value as string);
    this.#maps.set(key, bytes.slice());
  }

  get size(): number {
    return this.#maps.size;
  }
}
