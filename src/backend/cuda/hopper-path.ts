/**
 * Which kernel family runs a forward, or the backward's main kernel: the Hopper kernel (sm_90a) where every one
 * of its conditions holds, else the sm_80 kernel, which handles every problem. A pure function of the device's
 * facts, the manifest, the problem and the addresses, so that each condition is unit-tested without a GPU.
 * Falling back is never an error: both families compute the same results. forward-path.ts and
 * backward-path.ts say which tensors each Hopper kernel reads through tensor maps and which it stores.
 */
import type { AttentionProblem } from '../../backend.js';
import { OptionError, describe } from '../../errors.js';
import { type KernelEntry, gridTiles, persistentTilesFit } from './table.js';
import { TMA_ADDRESS_ALIGNMENT, type TensorMapGeometry, type TmaElementBytes, attentionTensorMap, tensorMapViolation } from './tma.js';

/** `FLASH_ATTN_KERNELS`: 'auto' (unset) picks per call; 'sm80' runs the sm_80 family everywhere. */
export type KernelFamily = 'auto' | 'sm80';

export function kernelFamily(setting: string | undefined = process.env.FLASH_ATTN_KERNELS): KernelFamily {
  if (setting === undefined || setting === '' || setting === 'auto') return 'auto';
  if (setting === 'sm80') return 'sm80';
  throw new OptionError(
    `FLASH_ATTN_KERNELS: expected 'sm80' (the sm_80 kernels everywhere) or 'auto' (the default: the Hopper kernels where they apply), got ${describe(setting)}`,
  );
}

/** The one compute capability the sm_90a machine code runs on. */
const HOPPER: readonly [number, number] = [9, 0];
/** Rows of d must start on 16 bytes for TMA: d a multiple of 8 16-bit elements. */
const D_MULTIPLE = 8;
/** Multiprocessors of the largest compute capability 9.0 die (GH100: 144), which bound a persistent grid there. */
const HOPPER_MAX_MULTIPROCESSORS = 144;

/**
 * A tensor the kernel reaches through a map: [n, lq, h, d] or [n, lk, hk, d]; the manifest field of its box's rows;
 * its element size (2, the default: the 16-bit inputs; 4: a float32 workspace).
 */
export interface MappedTensor {
  rows: 'lq' | 'lk';
  boxRows: 'tileRows' | 'keyTileRows' | 'queryTileRows' | 'dqBoxRows' | 'outBoxRows';
  elementBytes?: TmaElementBytes;
}

/** One Hopper kernel's needs: its manifest phase, the tensors it reads through maps (M), those it stores (S). */
export interface HopperKernelSpec<M extends string, S extends string> {
  phase: 'fwd' | 'bwd';
  /** 'forward' or 'backward', as the reasons name it. */
  pass: string;
  mapped: Readonly<Record<M, MappedTensor>>;
  stored: readonly S[];
  /** Bytes the stored tensors must be aligned to: the widest store the kernel makes (float32 out included). */
  storeAlignment: number;
}

export interface HopperPathInputs<M extends string, S extends string> {
  family: KernelFamily;
  computeCapability: readonly [number, number];
  /** Largest dynamic shared memory a block may opt in to on this device. */
  sharedMemoryLimit: number;
  kernels: readonly KernelEntry[];
  problem: Pick<AttentionProblem, 'n' | 'lq' | 'lk' | 'h' | 'hk' | 'd' | 'dtype'>;
  /**
   * Device addresses. One left out is not known yet (an output before it is allocated, from the pool and so
   * 256-byte aligned; dout in explain()): it is taken to be aligned.
   */
  pointers: Readonly<Partial<Record<M | S, bigint>>>;
}

export type HopperPath<M extends string> =
  | { arch: 'sm_90a'; entry: KernelEntry; maps: Record<M, TensorMapGeometry> }
  | { arch: 'sm_80'; reason: string };

export function chooseHopperKernel<M extends string, S extends string>(spec: HopperKernelSpec<M, S>, inputs: HopperPathInputs<M, S>): HopperPath<M> {
  const fallback = (reason: string): HopperPath<M> => ({ arch: 'sm_80', reason });
  const { problem: p, pointers } = inputs;
  const mapped = Object.keys(spec.mapped) as M[];
  if (inputs.family === 'sm80') return fallback('FLASH_ATTN_KERNELS=sm80');
  const [major, minor] = inputs.computeCapability;
  if (major !== HOPPER[0] || minor !== HOPPER[1]) return fallback(`compute capability ${major}.${minor} is not 9.0`);
  if (p.dtype !== 'float16' && p.dtype !== 'bfloat16') return fallback(`dtype ${p.dtype} has no Hopper kernel`);
  const compiled = inputs.kernels.filter((k) => k.arch === 'sm_90a' && k.phase === spec.phase && k.dtype === p.dtype && k.headDim >= p.d);
  if (compiled.length === 0) return fallback(`no sm_90a ${spec.pass} is compiled for ${p.dtype}, d = ${p.d}`);
  const headDim = Math.min(...compiled.map((k) => k.headDim));
  const entry = compiled.find((k) => k.headDim === headDim) as KernelEntry;
  if (p.d % D_MULTIPLE !== 0) return fallback(`d = ${p.d} is not a multiple of ${D_MULTIPLE}`);
  const misaligned = (names: readonly (M | S)[], alignment: number) =>
    names.find((name) => pointers[name] !== undefined && (pointers[name] as bigint) % BigInt(alignment) !== 0n);
  const unmappable = misaligned(mapped, TMA_ADDRESS_ALIGNMENT);
  if (unmappable !== undefined) return fallback(`${unmappable} is not ${TMA_ADDRESS_ALIGNMENT}-byte aligned`);
  const unstorable = misaligned(spec.stored, spec.storeAlignment);
  if (unstorable !== undefined) return fallback(`${unstorable} is not ${spec.storeAlignment}-byte aligned`);
  if (p.lq === 0 || p.lk === 0) return fallback('lq or lk is 0');
  // The sm_80 grid numbers its blocks per head and batch entry, so a problem past the persistent kernel's 32-bit tile
  // numbers may still run there.
  const tiles = gridTiles(entry, p);
  if (entry.persistent === true && !persistentTilesFit(tiles, Math.min(tiles, HOPPER_MAX_MULTIPROCESSORS))) {
    return fallback(`${entry.symbol} numbers its tiles with 32-bit integers, and this problem has ${tiles}`);
  }
  if (entry.smemBytes > inputs.sharedMemoryLimit) {
    return fallback(`${entry.symbol} needs ${entry.smemBytes} bytes of shared memory per block, and this device allows ${inputs.sharedMemoryLimit}`);
  }
  const maps = {} as Record<M, TensorMapGeometry>;
  for (const name of mapped) {
    const { rows, boxRows, elementBytes } = spec.mapped[name];
    const box = entry[boxRows];
    if (box === undefined) return fallback(`the manifest gives ${entry.symbol} no ${boxRows}`);
    const shape = rows === 'lq' ? { n: p.n, rows: p.lq, heads: p.h, d: p.d } : { n: p.n, rows: p.lk, heads: p.hk, d: p.d };
    maps[name] = attentionTensorMap(shape, box, elementBytes);
  }
  for (const name of mapped) {
    const violation = tensorMapViolation(maps[name], pointers[name]);
    if (violation !== undefined) return fallback(`the ${name} tensor map: ${violation}`);
  }
  return { arch: 'sm_90a', entry, maps };
}
