/**
 * Calls of more than 65535 batch entries, in launches of at most that many. The sm_80 kernels and the backward's
 * row passes launch a block row per (head, batch entry), and CUDA caps gridDim.z at 65535; the tensors are
 * batch-major, so a chunk of entries is an address offset into each of them, with nothing copied.
 */
import type { AttentionProblem } from '../../backend.js';
import { bytesPerElement } from '../../dtype.js';
import type { CUdeviceptr } from './driver.js';
import { CudaStorage } from './storage.js';
import { MAX_GRID_YZ } from './table.js';

/** The most batch entries one launch takes. */
export const MAX_BATCH_PER_LAUNCH = MAX_GRID_YZ;

/** Entries [start, start + n) of a call's batch. */
export interface BatchChunk {
  start: number;
  n: number;
}

/** The call's batch in chunks of at most MAX_BATCH_PER_LAUNCH entries (one chunk, the whole batch, for most calls). */
export function batchChunks(n: number, most = MAX_BATCH_PER_LAUNCH): BatchChunk[] {
  if (n <= most) return [{ start: 0, n }];
  return Array.from({ length: Math.ceil(n / most) }, (_, i) => ({ start: i * most, n: Math.min(most, n - i * most) }));
}

/** The problem of one chunk: the same in everything but n. */
export function chunkProblem(p: AttentionProblem, chunk: BatchChunk): AttentionProblem {
  return chunk.n === p.n ? p : { ...p, n: chunk.n };
}

/**
 * Entries [start, start + n) of a batch-major storage of `perEntry` elements an entry: the storage itself where the
 * chunk is the whole batch, else a view of the same memory that is never freed through it (its owner frees it).
 */
export function batchView(s: CudaStorage, chunk: BatchChunk, perEntry: number): CudaStorage {
  if (chunk.start === 0 && chunk.n * perEntry === s.length) return s;
  const offset = BigInt(chunk.start * perEntry * bytesPerElement(s.dtype));
  return CudaStorage.wrap(s.cudaDevice, (s.pointer + offset) as CUdeviceptr, s.dtype, chunk.n * perEntry);
}
