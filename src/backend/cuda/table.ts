/**
 * Which compiled kernel runs a call, and with which launch shape. The kernel build writes
 * kernels/build/manifest.json: one entry per kernel variant, `{ file, symbol, arch, phase, dtype, headDim,
 * threads, smemBytes, tileRows, gridRows, gridHeads }`, and for the Hopper kernels (sm_90a), which read through
 * tensor maps, `keyTileRows`, (the forward) `outBoxRows` and (the backward) `queryTileRows` and `dqBoxRows`; `persistent` marks a kernel whose blocks loop
 * over the tiles (the Hopper forward), `waitsForPreviousGrid` one that may be launched to overlap the kernel before it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AttentionProblem } from '../../backend.js';
import { envSetting } from '../../env.js';
import { BackendUnavailableError, SizeLimitError, describe } from '../../errors.js';

export type Phase = 'fwd' | 'bwd_pre' | 'bwd_pre_side' | 'bwd' | 'bwd_dq' | 'bwd_dq_det';
const PHASES: readonly Phase[] = ['fwd', 'bwd_pre', 'bwd_pre_side', 'bwd', 'bwd_dq', 'bwd_dq_det'];
/**
 * The backward's kernels in launch order: bwd_pre (softmax_d, zeroes dq_accum), bwd (dk, dv, and dq added
 * into dq_accum: float32 atomics on sm_80, TMA reductions on sm_90a), bwd_dq (dq from dq_accum). Deterministic:
 * bwd_dq_det computes each query block's dq on its own (recomputing S and dP), in a fixed order, in place of
 * bwd_dq; the sm_80 bwd still adds into dq_accum, which nothing then reads (nor clears, where bwd_pre is marked
 * accumOptional), and the Hopper bwd skips dQ (see attention.ts, backward.ts). A Hopper bwd marked countsDqItems
 * counts its finished items on counters that bwd_pre zeroes, and bwd_dq waits on them per (batch, head) instead of
 * for the whole bwd (backward.ts itemCounters). A Hopper bwd_dq_det marked computesD writes softmax_d itself and runs
 * first, with no bwd_pre (backward.ts backwardEntries reorders these phases). Where the Hopper bwd is marked
 * waitsForReadyRows and the build has a bwd_pre_side of its dtype and head dim, that runs in bwd_pre's place, and
 * the Hopper bwd beside it (backward.ts sidePreEntry).
 */
export function backwardPhases(p: Pick<AttentionProblem, 'deterministic'>): readonly Phase[] {
  return p.deterministic ? ['bwd_pre', 'bwd', 'bwd_dq_det'] : ['bwd_pre', 'bwd', 'bwd_dq'];
}
export type KernelDtype = 'float16' | 'bfloat16';
const KERNEL_DTYPES: readonly KernelDtype[] = ['float16', 'bfloat16'];

/** sm_80: runs on every card of compute capability 8.0 and newer; sm_90a: only on 9.0 (Hopper). */
export type KernelArch = 'sm_80' | 'sm_90a';
const KERNEL_ARCHS: readonly KernelArch[] = ['sm_80', 'sm_90a'];

export interface KernelEntry {
  /** The fatbin, relative to the manifest's folder. */
  file: string;
  /** The kernel's (extern "C") name in the fatbin. */
  symbol: string;
  arch: KernelArch;
  phase: Phase;
  dtype: KernelDtype;
  /** Compiled head dim; serves every d <= headDim not served by a smaller one. */
  headDim: number;
  threads: number;
  /** Dynamic shared memory per block, in bytes. */
  smemBytes: number;
  /** Rows (of lq or lk) one block handles. */
  tileRows: number;
  /** Key rows per step (the TMA box of k and v), for kernels that read through tensor maps. */
  keyTileRows?: number;
  /** Query rows per step (the TMA box of q and dout), for the Hopper backward, whose blocks own key rows. */
  queryTileRows?: number;
  /** Rows of the box through which the Hopper backward adds dQ into the float32 dq_accum (TMA reductions). */
  dqBoxRows?: number;
  /** Rows of the box through which the Hopper forward stores o (TMA stores: one warp's rows of a band of 64 columns). */
  outBoxRows?: number;
  gridRows: 'lq' | 'lk';
  gridHeads: 'h' | 'hk';
  /**
   * The blocks loop over the (rows, heads, n) tiles, claiming them from a counter (FlashParams.tile_counter,
   * zeroed before the launch): launched one per multiprocessor, or one per tile if there are fewer tiles.
   */
  persistent?: boolean;
  /**
   * The kernel's sm_90 / sm_90a machine code waits for the grid before it (griddepcontrol.wait) before it touches
   * global memory, so it may be launched to overlap that grid (programmatic dependent launch). Absent in builds
   * from before the kernels did.
   */
  waitsForPreviousGrid?: boolean;
  /**
   * Launched as one block per this many multiprocessors, or one per tile where there are fewer tiles; the blocks
   * stride over the tiles (bwd_pre_side).
   */
  multiprocessorsPerBlock?: number;
  /**
   * A bwd_pre_side that paces itself by the Hopper bwd's claims (FlashParams.pace_grid, kernels/sm80/rows.cuh): where
   * the host paces it (backward.ts pacedSideBlocks), launched on this many blocks for the whole of the main kernel, which
   * runs on the other multiprocessors. Absent in builds from before.
   */
  pacedBlocks?: number;
  /**
   * A Hopper bwd that may run beside the same build's bwd_pre_side of its dtype and head dim (launched to overlap
   * it): given FlashParams.ready_rows it waits per step on that kernel's ready flags, which follow dq_done's
   * counters, instead of for the grid before it. Absent in builds from before, and where the wait is compiled out.
   * On a bwd_dq: given ready_rows, it also waits for the flags of its own rows, which orders the zeroed dq_accum of
   * rows that see no key (no step of the main kernel covers them) before its reads; absent in builds from before.
   */
  waitsForReadyRows?: boolean;
  /**
   * A bwd_pre that, given dq_accum = 0, leaves the workspace alone (the deterministic backward, which never reads
   * it, gives none). Absent in builds from before: their bwd_pre always zeroes dq_accum, and must be given it.
   */
  accumOptional?: boolean;
  /**
   * A Hopper bwd that counts its finished items per (batch, kv head) on FlashParams.dq_done (n * hk uint32 counters
   * that the same build's bwd_pre zeroes), so that its bwd_dq, launched to overlap it, waits per group for
   * dq_done_whole (the key blocks of a head) instead of for the whole kernel. Absent in builds from before.
   */
  countsDqItems?: boolean;
  /**
   * A Hopper bwd_dq_det that computes D = rowsum(dout o o) for its rows and writes softmax_d itself, so that the
   * deterministic backward runs it first, then the Hopper bwd (which reads D), and no bwd_pre. Absent in builds from
   * before: their bwd_dq_det reads D from bwd_pre and runs last.
   */
  computesD?: boolean;
}

export interface KernelManifest {
  directory: string;
  kernels: KernelEntry[];
}

/** kernels/build of this package (not of the working directory); FLASH_ATTN_KERNEL_DIR overrides it. */
export function kernelDirectory(): string {
  return envSetting('FLASH_ATTN_KERNEL_DIR') ?? fileURLToPath(new URL('../../../../kernels/build/', import.meta.url));
}

let cached: KernelManifest | undefined;

/** The manifest of the kernel directory, read once. */
export function kernelManifest(): KernelManifest {
  if (cached) return cached;
  const directory = kernelDirectory();
  const path = join(directory, 'manifest.json');
  if (!existsSync(path)) {
    throw new BackendUnavailableError(
      `cuda: no compiled kernels (${path} is missing); build them with \`node scripts/build-kernels.mjs\` on a machine with nvcc, or use the 'cpu' backend`,
    );
  }
  cached = { directory, kernels: parseManifest(JSON.parse(readFileSync(path, 'utf8')), path) };
  return cached;
}

/** @internal Tests only: forget the cached manifest (after changing FLASH_ATTN_KERNEL_DIR). */
export function forgetManifestForTesting(): void {
  cached = undefined;
}

function field<T>(entry: Record<string, unknown>, key: string, ok: (value: unknown) => value is T, where: string, expected: string): T {
  const value = entry[key];
  if (!ok(value)) throw new BackendUnavailableError(`cuda: ${where}: expected ${key} to be ${expected}, got ${describe(value)}`);
  return value;
}

const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isPositiveInteger = (value: unknown): value is number => Number.isInteger(value) && (value as number) > 0;
const isCount = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0;
const isTrue = (value: unknown): value is true => value === true;
const oneOf =
  <T extends string>(values: readonly T[]) =>
  (value: unknown): value is T =>
    values.includes(value as T);

/** `{ [key]: n }` for a positive integer n, `{}` where the entry leaves the field out. */
function optionalRows<K extends 'keyTileRows' | 'queryTileRows' | 'dqBoxRows' | 'outBoxRows' | 'multiprocessorsPerBlock' | 'pacedBlocks'>(entry: Record<string, unknown>, key: K, where: string): Partial<Record<K, number>> {
  if (entry[key] === undefined) return {};
  return { [key]: field(entry, key, isPositiveInteger, where, 'a positive integer') } as Partial<Record<K, number>>;
}

/** `{ [key]: true }`, `{}` where the entry leaves the flag out (builds from before it). */
function optionalFlag<K extends 'persistent' | 'waitsForPreviousGrid' | 'accumOptional' | 'countsDqItems' | 'computesD' | 'waitsForReadyRows'>(entry: Record<string, unknown>, key: K, where: string): Partial<Record<K, true>> {
  if (entry[key] === undefined) return {};
  return { [key]: field(entry, key, isTrue, where, 'true or absent') } as Partial<Record<K, true>>;
}

/** Checks the manifest's shape; a malformed one is a broken install, reported as such. */
export function parseManifest(json: unknown, source: string): KernelEntry[] {
  const list = (json as { kernels?: unknown } | null)?.kernels;
  if (!Array.isArray(list)) throw new BackendUnavailableError(`cuda: ${source}: expected { "kernels": [...] }`);
  return list.map((raw, i) => {
    const where = `${source}: kernels[${i}]`;
    if (typeof raw !== 'object' || raw === null) throw new BackendUnavailableError(`cuda: ${where}: expected an object`);
    const entry = raw as Record<string, unknown>;
    return {
      file: field(entry, 'file', isString, where, 'a file name'),
      symbol: field(entry, 'symbol', isString, where, 'a kernel name'),
      arch: entry.arch === undefined ? 'sm_80' : field(entry, 'arch', oneOf(KERNEL_ARCHS), where, KERNEL_ARCHS.join(' | ')),
      phase: field(entry, 'phase', oneOf(PHASES), where, PHASES.join(' | ')),
      dtype: field(entry, 'dtype', oneOf(KERNEL_DTYPES), where, KERNEL_DTYPES.join(' | ')),
      headDim: field(entry, 'headDim', isPositiveInteger, where, 'a positive integer'),
      threads: field(entry, 'threads', isPositiveInteger, where, 'a positive integer'),
      smemBytes: field(entry, 'smemBytes', isCount, where, 'a byte count'),
      tileRows: field(entry, 'tileRows', isPositiveInteger, where, 'a positive integer'),
      gridRows: field(entry, 'gridRows', oneOf(['lq', 'lk'] as const), where, "'lq' | 'lk'"),
      gridHeads: field(entry, 'gridHeads', oneOf(['h', 'hk'] as const), where, "'h' | 'hk'"),
      ...optionalRows(entry, 'keyTileRows', where),
      ...optionalRows(entry, 'queryTileRows', where),
      ...optionalRows(entry, 'dqBoxRows', where),
      ...optionalRows(entry, 'outBoxRows', where),
      ...optionalRows(entry, 'multiprocessorsPerBlock', where),
      ...optionalRows(entry, 'pacedBlocks', where),
      ...optionalFlag(entry, 'persistent', where),
      ...optionalFlag(entry, 'waitsForPreviousGrid', where),
      ...optionalFlag(entry, 'accumOptional', where),
      ...optionalFlag(entry, 'countsDqItems', where),
      ...optionalFlag(entry, 'computesD', where),
      ...optionalFlag(entry, 'waitsForReadyRows', where),
    };
  });
}

/**
 * The sm_80 kernel for one phase: the smallest compiled head dim >= d whose shared memory fits the device;
 * among variants of that head dim that fit, the one using the most shared memory (the larger tiles).
 */
export function selectKernel(
  kernels: readonly KernelEntry[],
  phase: Phase,
  dtype: KernelDtype,
  d: number,
  sharedMemoryLimit: number,
): KernelEntry {
  if (phase === 'bwd_dq_det' && !kernels.some((k) => k.phase === phase)) {
    // A build from before deterministic mode: every other call still runs on it.
    throw new BackendUnavailableError(
      `cuda: the compiled kernels predate deterministic mode (no bwd_dq_det kernel in the manifest); rebuild them with \`node scripts/build-kernels.mjs\`, or call without deterministic: true`,
    );
  }
  const candidates = kernels.filter((k) => k.arch === 'sm_80' && k.phase === phase && k.dtype === dtype && k.headDim >= d);
  const fitting = candidates.filter((k) => k.smemBytes <= sharedMemoryLimit);
  if (fitting.length === 0) {
    const why =
      candidates.length === 0
        ? `none is compiled for head dim >= ${d}`
        : `those compiled need ${Math.min(...candidates.map((k) => k.smemBytes))} bytes of shared memory per block, and this device allows ${sharedMemoryLimit}`;
    throw new BackendUnavailableError(`cuda: no ${phase} kernel for ${dtype}, d = ${d}: ${why}`);
  }
  const headDim = Math.min(...fitting.map((k) => k.headDim));
  return fitting.filter((k) => k.headDim === headDim).reduce((best, k) => (k.smemBytes > best.smemBytes ? k : best));
}

/** How logs and explain() name a kernel: its symbol and its arch, e.g. `flash_fwd90_bf16_d128 (sm_90a)`. */
export function kernelLabel(entry: Pick<KernelEntry, 'symbol' | 'arch'>): string {
  return `${entry.symbol} (${entry.arch})`;
}

/** CUDA's limit on gridDim.y and gridDim.z. */
export const MAX_GRID_YZ = 65535;

/** CUDA's limit on gridDim.x, and on the tiles a persistent kernel numbers (32-bit). */
const MAX_GRID_X = 2 ** 31 - 1;

/** The tiles of a kernel's grid: ceil(rows / tileRows) * heads * n, rows and heads as the entry says. */
export function gridTiles(entry: KernelEntry, p: Pick<AttentionProblem, 'n' | 'lq' | 'lk' | 'h' | 'hk'>): number {
  const rows = entry.gridRows === 'lq' ? p.lq : p.lk;
  const heads = entry.gridHeads === 'h' ? p.h : p.hk;
  return Math.ceil(rows / entry.tileRows) * heads * p.n;
}

/** Whether a persistent kernel's 32-bit tile numbers reach every tile: each block's last claim is tiles + grid - 1. */
export function persistentTilesFit(tiles: number, grid: number): boolean {
  return tiles + grid - 1 <= MAX_GRID_X;
}

/**
 * (ceil(rows / tileRows), heads, n) with rows and heads as the entry says; for a persistent kernel
 * (min(that many tiles, multiprocessors), 1, 1); for one with multiprocessorsPerBlock
 * (min(that many tiles, ceil(multiprocessors / multiprocessorsPerBlock)), 1, 1).
 */
export function launchGrid(
  entry: KernelEntry,
  p: Pick<AttentionProblem, 'n' | 'lq' | 'lk' | 'h' | 'hk'>,
  multiprocessorCount: number,
): [number, number, number] {
  const rows = entry.gridRows === 'lq' ? p.lq : p.lk;
  const heads = entry.gridHeads === 'h' ? p.h : p.hk;
  const tiles = gridTiles(entry, p);
  if (entry.multiprocessorsPerBlock !== undefined) {
    // The blocks stride over the tiles with a 64-bit index (kernels/sm80/rows.cuh bwd_pre_side_kernel).
    return [Math.max(1, Math.min(tiles, Math.ceil(multiprocessorCount / entry.multiprocessorsPerBlock))), 1, 1];
  }
  if (entry.persistent === true) {
    const grid = Math.max(1, Math.min(tiles, multiprocessorCount));
    // Each block's last claim, the one that finds no tile left, is numbered up to tiles + grid - 1.
    if (!persistentTilesFit(tiles, grid)) {
      throw new SizeLimitError(`q: ${entry.symbol} numbers its tiles of ${entry.tileRows} rows with 32-bit integers, at most ${MAX_GRID_X + 1 - grid} on ${grid} blocks; n * ${entry.gridHeads} * ceil(${entry.gridRows} / ${entry.tileRows}) = ${tiles}`);
    }
    return [grid, 1, 1];
  }
  if (heads > MAX_GRID_YZ || p.n > MAX_GRID_YZ) {
    throw new SizeLimitError(`q: the cuda kernels launch one block row per head and batch entry, at most ${MAX_GRID_YZ} each; got ${heads} heads and n = ${p.n}`);
  }
  return [Math.ceil(rows / entry.tileRows), heads, p.n];
}
