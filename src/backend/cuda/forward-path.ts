/**
 * Which kernel family runs a forward: the Hopper kernel (sm_90a) where every one of its conditions holds,
 * else the sm_80 kernel, which handles every problem. A pure function of the device's facts, the manifest,
 * the problem and the addresses, so that each condition is unit-tested without a GPU. Falling back is never
 * an error: the sm_80 kernel computes the same o and lse (same definition of lse, which the backward reads).
 */
import type { AttentionProblem } from '../../backend.js';
import { OptionError, describe } from '../../errors.js';
import type { KernelEntry } from './table.js';
import { TMA_ADDRESS_ALIGNMENT, type TensorMapGeometry, attentionTensorMap, tensorMapViolation } from './tma.js';

/** `FLASH_ATTN_KERNELS`: 'auto' (unset) picks per call; 'sm80' runs the sm_80 family everywhere. */
export type KernelFamily = 'auto' | 'sm80';

export function kernelFamily(setting: string | undefined = process.env.FLASH_ATTN_KERNELS): KernelFamily {
  if (setting === undefined || setting === '' || setting === 'auto') return 'auto';
  if (setting === 'sm80') return 'sm80';
  throw new OptionError(
    `FLASH_ATTN_KERNELS: expected 'sm80' (the sm_80 kernels everywhere) or 'auto' (the default: the Hopper forward where it applies), got ${describe(setting)}`,
  );
}

/** The one compute capability the sm_90a machine code runs on. */
const HOPPER: readonly [number, number] = [9, 0];
/** The kernel stores o in pairs: 4 bytes (16-bit out) or 8 bytes (float32 out, ring attention). */
const OUT_ALIGNMENT = 8;
/** Rows of d must start on 16 bytes for TMA: d a multiple of 8 16-bit elements. */
const D_MULTIPLE = 8;

export interface ForwardPathInputs {
  family: KernelFamily;
  computeCapability: readonly [number, number];
  /** Largest dynamic shared memory a block may opt in to on this device. */
  sharedMemoryLimit: number;
  kernels: readonly KernelEntry[];
  problem: Pick<AttentionProblem, 'n' | 'lq' | 'lk' | 'h' | 'hk' | 'd' | 'dtype'>;
  /** Device addresses; `o` is left out where it is not allocated yet (pool allocations are 256-byte aligned). */
  pointers: { q: bigint; k: bigint; v: bigint; o?: bigint };
}

export type ForwardPath =
  | { arch: 'sm_90a'; entry: KernelEntry; maps: { q: TensorMapGeometry; k: TensorMapGeometry; v: TensorMapGeometry } }
  | { arch: 'sm_80'; reason: string };

const fallback = (reason: string): ForwardPath => ({ arch: 'sm_80', reason });

export function chooseForward(inputs: ForwardPathInputs): ForwardPath {
  const { problem: p, pointers } = inputs;
  if (inputs.family === 'sm80') return fallback('FLASH_ATTN_KERNELS=sm80');
  const [major, minor] = inputs.computeCapability;
  if (major !== HOPPER[0] || minor !== HOPPER[1]) return fallback(`compute capability ${major}.${minor} is not 9.0`);
  if (p.dtype !== 'float16' && p.dtype !== 'bfloat16') return fallback(`dtype ${p.dtype} has no Hopper kernel`);
  const compiled = inputs.kernels.filter((k) => k.arch === 'sm_90a' && k.phase === 'fwd' && k.dtype === p.dtype && k.headDim >= p.d);
  if (compiled.length === 0) return fallback(`no sm_90a forward is compiled for ${p.dtype}, d = ${p.d}`);
  const headDim = Math.min(...compiled.map((k) => k.headDim));
  const entry = compiled.find((k) => k.headDim === headDim) as KernelEntry;
  if (p.d % D_MULTIPLE !== 0) return fallback(`d = ${p.d} is not a multiple of ${D_MULTIPLE}`);
  for (const name of ['q', 'k', 'v'] as const) {
    if (pointers[name] % BigInt(TMA_ADDRESS_ALIGNMENT) !== 0n) return fallback(`${name} is not ${TMA_ADDRESS_ALIGNMENT}-byte aligned`);
  }
  if (pointers.o !== undefined && pointers.o % BigInt(OUT_ALIGNMENT) !== 0n) return fallback(`o is not ${OUT_ALIGNMENT}-byte aligned`);
  if (p.lq === 0 || p.lk === 0) return fallback('lq or lk is 0');
  if (entry.smemBytes > inputs.sharedMemoryLimit) {
    return fallback(`${entry.symbol} needs ${entry.smemBytes} bytes of shared memory per block, and this device allows ${inputs.sharedMemoryLimit}`);
  }
  if (entry.keyTileRows === undefined) return fallback(`the manifest gives ${entry.symbol} no keyTileRows`);
  const maps = {
    q: attentionTensorMap({ n: p.n, rows: p.lq, heads: p.h, d: p.d }, entry.tileRows),
    k: attentionTensorMap({ n: p.n, rows: p.lk, heads: p.hk, d: p.d }, entry.keyTileRows),
    v: attentionTensorMap({ n: p.n, rows: p.lk, heads: p.hk, d: p.d }, entry.keyTileRows),
  };
  for (const name of ['q', 'k', 'v'] as const) {
    const violation = tensorMapViolation(maps[name], pointers[name]);
    if (violation !== undefined) return fallback(`the ${name} tensor map: ${violation}`);
  }
  return { arch: 'sm_90a', entry, maps };
}
