/** What the GPU tests share: whether a CUDA device is here (else why not), and small helpers. */
import { cudaBackend } from '../../src/backend/cuda/index.js';
import { type CudaDevice, cudaDevice } from '../../src/backend/cuda/runtime.js';
import { CudaStorage } from '../../src/backend/cuda/storage.js';
import { kernelManifest } from '../../src/backend/cuda/table.js';
import type { Tensor } from '../../src/index.js';
import { gpuAbsence } from '../support/devices.js';

function findNoDevice(): string | false {
  try {
    return cudaBackend.deviceCount() > 0 ? false : 'no CUDA device on this machine';
  } catch (error) {
    return `no CUDA device: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * `false` where a GPU is present; otherwise the reason, printed by node:test as the skip message (thrown
 * instead under FLASH_ATTN_REQUIRE_GPU=1).
 */
export const skipReason: string | false = gpuAbsence(findNoDevice());
if (skipReason) console.log(`# GPU tests skipped: ${skipReason}`);

/**
 * Why the deterministic backward cannot run on a machine with a GPU: the built kernels predate it (no
 * bwd_dq_det in the manifest) or are missing; `false` where it can.
 */
export function deterministicKernelsMissing(): string | false {
  try {
    return kernelManifest().kernels.some((k) => k.phase === 'bwd_dq_det') ? false : 'the built kernels have no bwd_dq_det (they predate deterministic mode)';
  } catch (error) {
    return `no kernels: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export function gpu(): CudaDevice {
  return cudaDevice('cuda:0');
}

export function storageOf(t: Tensor): CudaStorage {
  const storage = t.storage();
  if (!(storage instanceof CudaStorage)) throw new Error(`${t}: not on a cuda device`);
  return storage;
}

/** Every element of the tensor as a float (waits for the GPU). */
export async function values(t: Tensor): Promise<Float32Array> {
  return t.toFloat32Array();
}

/** Byte-for-byte equality of two host copies. */
export function bitsEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A forward's and a backward's five outputs as floats, named as the tolerance checks name them (waits for the GPU). */
export async function outputValues(forward: { out: Tensor; lse: Tensor }, g: { dq: Tensor; dk: Tensor; dv: Tensor }) {
  const [o, lse, dq, dk, dv] = await Promise.all([forward.out, forward.lse, g.dq, g.dk, g.dv].map((t) => t.toFloat32Array()));
  return { o, lse, dq, dk, dv };
}

export function disposeAll(...tensors: Tensor[]): void {
  for (const t of tensors) t.dispose();
}
