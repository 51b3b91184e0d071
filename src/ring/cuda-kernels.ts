/**
 * Ring attention's element-wise CUDA kernels (kernels/ring/ring_ops.cu, built by
 * scripts/build-ring-kernels.mjs into kernels/build/ring_ops.fatbin with ring-manifest.json beside it).
 * Each kernel takes one struct of 64-bit fields, packed here as little-endian words, and loops over its
 * work with a grid stride; kernels load through the CUDA runtime's per-device module cache.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { logLaunch } from '../backend/cuda/log.js';
import { kernelFunction } from '../backend/cuda/modules.js';
import type { CudaDevice } from '../backend/cuda/runtime.js';
import { kernelDirectory } from '../backend/cuda/table.js';
import { BackendUnavailableError, describe } from '../errors.js';

export const RING_KERNELS = [
  'ring_copy_rows_16',
  'ring_copy_rows_4',
  'ring_copy_rows_2',
  'ring_merge',
  'ring_add_f32',
  'ring_add_rows_f32',
  'ring_cast_f32_f16',
  'ring_cast_f32_bf16',
] as const;
export type RingKernel = (typeof RING_KERNELS)[number];

interface RingManifest {
  file: string;
  threads: number;
}

let manifest: RingManifest | undefined;
// One source object per kernel: the module cache keys functions by object.
const sources = new Map<RingKernel, { file: string; symbol: string; smemBytes: number }>();

function ringManifest(): RingManifest {
  if (manifest) return manifest;
  const path = join(kernelDirectory(), 'ring-manifest.json');
  if (!existsSync(path)) {
    throw new BackendUnavailableError(
      `ring: no compiled ring kernels (${path} is missing); build them with \`node scripts/build-ring-kernels.mjs\` on a machine with nvcc, or use 'cpu:N' devices`,
    );
  }
  const json = JSON.parse(readFileSync(path, 'utf8')) as { file?: unknown; threads?: unknown; symbols?: unknown };
  const symbols = Array.isArray(json.symbols) ? json.symbols : [];
  const missing = RING_KERNELS.filter((k) => !symbols.includes(k));
  if (typeof json.file !== 'string' || !Number.isInteger(json.threads) || missing.length > 0) {
    throw new BackendUnavailableError(
      `ring: ${path} is not a current ring kernel manifest (file ${describe(json.file)}, threads ${describe(json.threads)}, missing ${describe(missing)}); rebuild with \`node scripts/build-ring-kernels.mjs\``,
    );
  }
  manifest = { file: json.file, threads: json.threads as number };
  return manifest;
}

function sourceOf(kernel: RingKernel) {
  let source = sources.get(kernel);
  if (!source) {
    source = { file: ringManifest().file, symbol: kernel, smemBytes: 0 };
    sources.set(kernel, source);
  }
  return source;
}

/** The struct argument: each value as one little-endian 64-bit word (addresses and counts alike). */
function pack(words: readonly (bigint | number)[]): Uint8Array {
  const bytes = new Uint8Array(8 * words.length);
  const view = new DataView(bytes.buffer);
  words.forEach((w, i) => view.setBigUint64(8 * i, BigInt.asUintN(64, BigInt(w)), true));
  return bytes;
}

/** Blocks per multiprocessor at most: enough to fill the GPU; the grid-stride loops cover the rest. */
const BLOCKS_PER_SM = 16;

/**
 * Enqueues `kernel` on the device's compute stream over `threadsNeeded` threads' worth of work (capped;
 * the kernels loop), with `words` as its struct argument. Nothing to do: no launch.
 */
export function launchRingKernel(device: CudaDevice, kernel: RingKernel, threadsNeeded: number, words: readonly (bigint | number)[]): void {
  if (threadsNeeded <= 0) return;
  const { threads } = ringManifest();
  const fn = kernelFunction(device, sourceOf(kernel));
  const blocks = Math.max(1, Math.min(Math.ceil(threadsNeeded / threads), device.multiprocessorCount * BLOCKS_PER_SM));
  device.launch(fn, [blocks, 1, 1], threads, 0, pack(words));
  logLaunch(device.label, 'ring', kernel, [blocks, 1, 1]);
}
