/**
 * The tensor maps a device has encoded lately, by everything cuTensorMapEncodeTiled was given (the geometry and the
 * address; the kernels' settings are the same for every map). Encoding one through koffi cost ~4 us of host time,
 * and a Hopper call encodes 4-5: about a fifth of its host time (bench/NOTES.md H1). A program calling attention in
 * a loop passes the same geometries over the same addresses again and again (its inputs, and outputs the memory
 * pool hands back at the same place). A map is a pure function of those arguments, so a remembered one is the one
 * the driver would write.
 *
 * Looked up by address, then by comparing the geometry's numbers, and handed out without a copy: a key string per
 * lookup, a Map's order refreshed and a 128-byte copy cost ~1.9 us a map, half of what the cache saves (a new
 * Uint8Array alone ~0.7 us; H1). The bytes handed out are the cache's: read them, never change them.
 */
import type { TensorMapGeometry } from './tma.js';

/** Maps kept per device: 128 bytes each and their geometry; the oldest stored goes first. */
export const TENSOR_MAP_CACHE_ENTRIES = 256;

interface Entry {
  readonly address: bigint;
  readonly map: TensorMapGeometry;
  readonly bytes: Uint8Array;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether two geometries ask cuTensorMapEncodeTiled for the same map (over the same address). */
export function sameGeometry(a: TensorMapGeometry, b: TensorMapGeometry): boolean {
  return a.elementBytes === b.elementBytes && sameNumbers(a.globalDim, b.globalDim) && sameNumbers(a.globalStrides, b.globalStrides)
    && sameNumbers(a.boxDim, b.boxDim) && sameNumbers(a.elementStrides, b.elementStrides);
}

/** A copy of the geometry's arrays, so that a caller changing its object later cannot change the entry. */
function frozenCopy(map: TensorMapGeometry): TensorMapGeometry {
  return Object.freeze({
    elementBytes: map.elementBytes,
    globalDim: Object.freeze([...map.globalDim]) as unknown as TensorMapGeometry['globalDim'],
    globalStrides: Object.freeze([...map.globalStrides]) as unknown as TensorMapGeometry['globalStrides'],
    boxDim: Object.freeze([...map.boxDim]) as unknown as TensorMapGeometry['boxDim'],
    elementStrides: Object.freeze([...map.elementStrides]) as unknown as TensorMapGeometry['elementStrides'],
  });
}

/**
 * Entries by address, each address's few geometries compared in turn; a ring of `capacity` slots in storing order
 * says which entry goes when a new one needs the room (first in, first out: a map still in use is encoded again once
 * `capacity` others have been stored since it).
 */
export class TensorMapCache {
  readonly #byAddress = new Map<bigint, Entry[]>();
  readonly #ring: (Entry | undefined)[];
  #next = 0;

  constructor(readonly capacity = TENSOR_MAP_CACHE_ENTRIES) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`TensorMapCache: capacity ${capacity} is not a whole number >= 1`);
    }
    this.#ring = new Array<Entry | undefined>(capacity).fill(undefined);
  }

  /** The map stored for `map` over `address` (the cache's own bytes, not a copy), or undefined. */
  get(map: TensorMapGeometry, address: bigint): Readonly<Uint8Array> | undefined {
    const entries = this.#byAddress.get(address);
    if (entries === undefined) return undefined;
    for (const entry of entries) if (sameGeometry(entry.map, map)) return entry.bytes;
    return undefined;
  }

  /** Keeps a copy of `bytes` for `map` over `address`, in place of the oldest entry once the cache is full. */
  set(map: TensorMapGeometry, address: bigint, bytes: Readonly<Uint8Array>): void {
    if (this.get(map, address) === undefined) this.adopt(map, address, bytes.slice());
  }

  /**
   * As set, but keeps `bytes` themselves, which the caller hands over and no longer changes (a fresh copy of the
   * driver's slot: copying it again cost a second 128-byte copy per encode). Returns the bytes the cache now holds
   * for the map: `bytes`, or the entry it had (the same bytes: the driver's map is a pure function of the geometry).
   */
  adopt(map: TensorMapGeometry, address: bigint, bytes: Uint8Array): Readonly<Uint8Array> {
    const known = this.get(map, address);
    if (known !== undefined) return known;
    const entries = this.#byAddress.get(address) ?? [];
    const evicted = this.#ring[this.#next];
    if (evicted !== undefined) this.#forget(evicted);
    const entry: Entry = { address, map: frozenCopy(map), bytes };
    this.#ring[this.#next] = entry;
    this.#next = (this.#next + 1) % this.capacity;
    entries.push(entry);
    this.#byAddress.set(address, entries);
    return bytes;
  }

  get size(): number {
    let count = 0;
    for (const entries of this.#byAddress.values()) count += entries.length;
    return count;
  }

  #forget(entry: Entry): void {
    const entries = this.#byAddress.get(entry.address);
    if (entries === undefined) return;
    const at = entries.indexOf(entry);
    if (at >= 0) entries.splice(at, 1);
    if (entries.length === 0) this.#byAddress.delete(entry.address);
  }
}
