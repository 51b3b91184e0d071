/**
 * The backward's launches on one device: bwd_pre, then the Hopper backward (sm_90a, reading q, k, v, dout
 * through tensor maps and adding dq into dq_accum through a fifth) where backward-path.ts allows it, else the
 * sm_80 bwd, then bwd_dq (bwd_dq_det when deterministic). Where the build allows it (sidePreEntry), bwd_pre_side
 * takes bwd_pre's place and the Hopper backward runs beside it, waiting per step for its rows. bwd_pre, bwd_pre_side
 * and bwd_dq are sm_80-family kernels on either path; bwd_dq_det is the Hopper one (reading through the same maps)
 * where the build has it for the Hopper backward's head dim; one marked computesD (d = 64 / 128) computes D itself and
 * runs before the Hopper backward, without bwd_pre (backwardEntries). planBackward says whether the call needs the
 * dq_accum workspace at all.
 */
import type { AttentionProblem } from '../../backend.js';
import { type Bwd90Map, type FlashParams, packBwd90Args, packFlashParams } from './abi.js';
import { type BackwardPath, type BackwardPathInputs, chooseBackward } from './backward-path.js';
import { CU_TENSOR_MAP_BYTES, type CUdeviceptr } from './driver.js';
import { type ResolvedKernel, hopperDeviceFacts, launchKernel, resolveEntry, sm80Entry } from './modules.js';
import type { CudaDevice } from './runtime.js';
import { nextTileCounter } from './tile-counter.js';
import { type KernelEntry, backwardPhases, kernelManifest } from './table.js';

/** The backward path of this call on this device; see BackwardPathInputs for the addresses that may be left out. */
export function backwardPath(device: CudaDevice, p: AttentionProblem, pointers: BackwardPathInputs['pointers']): BackwardPath {
  return chooseBackward({ ...hopperDeviceFacts(device), problem: p, pointers });
}

/**
 * The Hopper dq pass of the deterministic backward (kernels/sm90/dq_det.cuh) that goes with the Hopper backward of
 * `path`: same dtype and head dim, reading through its tensor maps (so the same box rows), and shared memory the
 * device allows; undefined where the build has none (older builds) or the sm_80 backward runs.
 */
export function hopperDqDetEntry(kernels: readonly KernelEntry[], path: BackwardPath, sharedMemoryLimit: number): KernelEntry | undefined {
  if (path.arch !== 'sm_90a') return undefined;
  const main = path.entry;
  return kernels.find((k) => k.arch === 'sm_90a' && k.phase === 'bwd_dq_det' && k.dtype === main.dtype
    && k.headDim === main.headDim && k.keyTileRows === main.keyTileRows && k.queryTileRows === main.queryTileRows
    && k.smemBytes <= sharedMemoryLimit);
}

/** The addresses sidePreEntry checks: dout and o where known (explain() knows neither). */
export interface SidePrePointers {
  dout?: bigint;
  o?: bigint;
}

/**
 * The most keys per query row for which bwd_pre_side runs: under a right window (causal) and without one. bwd_pre's
 * time goes with the query rows only, the main kernel's with their keys too, so hiding bwd_pre gains less as lk grows,
 * while the side grid holds a third of the multiprocessors for ~200 us (bench/NOTES.md P2g). On an H100, the side path
 * over none in ab.py's alternating rounds (three runs; bench/results/2026-12-06-h100-s32-side-pre/r3,
 * -s33-side-order/r1 and r3): causal d = 128 +0.4..+4.0% up to 2048, -0.3..-1.6% at 4096, -2.4..-3.6% at 8192;
 * without a mask, means of the three runs, d = 128 +1.4% at 4096 and +0.1% at 8192, d = 256 +2.2% and +1.5%, and
 * -1.7..+0.4% at 16384.
 */
export const SIDE_PRE_MAX_KEYS = { rightWindow: 2048, none: 8192 } as const;

/**
 * Whether every query row sees at least one key under the mask. Beside bwd_pre_side the main kernel waits for a row's
 * ready flag before it adds into that row; a row with no key is in no step of the main kernel (causal lq > lk, a ring
 * call's masked-off corner), so only a bwd_dq that waits for its rows' flags too (marked waitsForReadyRows) orders
 * that row's zeroed dq_accum before its read; with an older bwd_dq, bwd_pre_side runs only where this holds. Row i's
 * keys are [i + offset - left, i + offset + right] within [0, lk), both ends growing with i: the first row (empty
 * when its right end is below 0) and the last (empty when its left end is past lk - 1) decide.
 */
export function everyRowHasKeys(p: Pick<AttentionProblem, 'lq' | 'lk' | 'windowLeft' | 'windowRight' | 'diagonalOffset'>): boolean {
  const firstRight = p.windowRight < 0 ? Infinity : p.diagonalOffset + p.windowRight;
  const lastLeft = p.windowLeft < 0 ? -Infinity : p.lq - 1 + p.diagonalOffset - p.windowLeft;
  return firstRight >= 0 && lastLeft <= p.lk - 1;
}

/**
 * The bwd_pre_side (kernels/sm80/rows.cuh) to run in bwd_pre's place beside the Hopper backward of `path`: where that
 * kernel may run beside it (waitsForReadyRows) and counts its items (the ready flags follow its counters), the call
 * is not deterministic (whose bwd_pre leaves dq_accum alone), lk <= SIDE_PRE_MAX_KEYS (by mask), the build's bwd_dq
 * waits for the ready flags or every row has a key (everyRowHasKeys), the build has a bwd_pre_side of the same dtype
 * and head dim, and its vector rows apply (d % 4 == 0, dout and o 8-byte aligned; dq_accum is the pool's, 256-byte
 * aligned). Else undefined: bwd_pre runs before the main kernel (bench/NOTES.md P2e).
 */
export function sidePreEntry(kernels: readonly KernelEntry[], p: AttentionProblem, path: BackwardPath, pointers: SidePrePointers): KernelEntry | undefined {
  if (path.arch !== 'sm_90a' || p.deterministic) return undefined;
  if (p.lk > (p.windowRight >= 0 ? SIDE_PRE_MAX_KEYS.rightWindow : SIDE_PRE_MAX_KEYS.none)) return undefined;
  const main = path.entry;
  if (main.waitsForReadyRows !== true || main.countsDqItems !== true) return undefined;
  if (p.d % 4 !== 0 || [pointers.dout, pointers.o].some((address) => address !== undefined && address % 8n !== 0n)) return undefined;
  const ofMain = (k: KernelEntry) => k.dtype === main.dtype && k.headDim === main.headDim;
  if (!launchedBwdDqWaits(kernels, p) && !everyRowHasKeys(p)) return undefined;
  return kernels.find((k) => k.phase === 'bwd_pre_side' && ofMain(k));
}

/**
 * Whether the bwd_dq that will run for `p` waits for the ready flags. That is an sm_80 kernel (sm80Entry picks it)
 * chosen by the call's own d, the smallest compiled head dim >= d as selectKernel does, which need not be the
 * Hopper kernel's (d = 96 runs the d = 128 Hopper bwd); every shared-memory variant of that head dim must wait.
 */
function launchedBwdDqWaits(kernels: readonly KernelEntry[], p: Pick<AttentionProblem, 'dtype' | 'd'>): boolean {
  const dq = kernels.filter((k) => k.phase === 'bwd_dq' && k.arch === 'sm_80' && k.dtype === p.dtype && k.headDim >= p.d);
  if (dq.length === 0) return false;
  const headDim = Math.min(...dq.map((k) => k.headDim));
  return dq.filter((k) => k.headDim === headDim).every((k) => k.waitsForReadyRows === true);
}

/**
 * The backward's kernels in launch order (backwardPhases): the Hopper kernel in the bwd phase where `path` chose it,
 * and then the Hopper bwd_dq_det where the build has one for it. A Hopper bwd_dq_det that computes D itself
 * (computesD) runs first instead, and no bwd_pre runs: it writes the softmax_d that the Hopper bwd then reads.
 * bwd_pre_side replaces bwd_pre where sidePreEntry gives one.
 */
export function backwardEntries(device: CudaDevice, p: AttentionProblem, path: BackwardPath, pointers: SidePrePointers = {}): KernelEntry[] {
  const hopperDq = p.deterministic
    ? hopperDqDetEntry(kernelManifest().kernels, path, device.sharedMemoryPerBlockOptin)
    : undefined;
  if (hopperDq?.computesD === true && path.arch === 'sm_90a') return [hopperDq, path.entry];
  const sidePre = sidePreEntry(kernelManifest().kernels, p, path, pointers);
  return backwardPhases(p).map((phase) => {
    if (phase === 'bwd_pre' && sidePre !== undefined) return sidePre;
    if (phase === 'bwd' && path.arch === 'sm_90a') return path.entry;
    if (phase === 'bwd_dq_det' && hopperDq !== undefined) return hopperDq;
    return sm80Entry(device, phase, p);
  });
}

/**
 * FlashParams.dq_done and dq_done_whole for this call: the counters (n * hk uint32 words at `counters`) where the
 * Hopper backward counts its finished items (the manifest's countsDqItems; not when deterministic, where it adds no
 * dQ and bwd_dq_det follows), so that bwd_dq waits per (batch, kv head) for its key blocks' items instead of for the
 * whole main kernel and runs on the multiprocessors its last wave leaves idle (bench/NOTES.md Q8); else none.
 */
export function itemCounters(p: AttentionProblem, path: BackwardPath, counters: bigint): Pick<FlashParams, 'dq_done' | 'dq_done_whole'> {
  if (path.arch !== 'sm_90a' || path.entry.countsDqItems !== true || p.deterministic) return { dq_done: 0n, dq_done_whole: 0 };
  // One item per tileRows keys of a (batch, kv head) (the bwd's grid rows are keys).
  return { dq_done: counters, dq_done_whole: Math.ceil(p.lk / path.entry.tileRows) };
}

/**
 * The ready flags of bwd_pre_side (FlashParams.ready_rows): one per `rows` query rows of a (batch, head), after
 * dq_done's n * hk counters; zeroed with them before bwd_pre_side runs.
 */
export function readyFlagCount(p: Pick<AttentionProblem, 'n' | 'h' | 'lq'>, rows: number): number {
  return p.n * p.h * Math.ceil(p.lq / rows);
}

/**
 * The most keys per query row, and query rows, for which bwd_pre_side is paced (pacedSideBlocks), under a right window
 * (causal); it is never paced without one. Paced on 24 blocks against unpaced, on an H100 (bench/results/2026-12-07-h100-s38-pace,
 * bench/NOTES.md PACE2): causal l = 512 +7% at d = 128 and 256, causal 1024 0% / -3%; without a mask 0% / -5% at 512,
 * -9% / -12% at 1024. A head's rows are zeroed just before the main kernel reaches them, so they are still in L2 when
 * its reductions add into them; with longer rows, the main kernel's 24 fewer multiprocessors cost more than that saves.
 */
export const PACE_MAX_KEYS = 512;

/**
 * The blocks of a paced bwd_pre_side beside the Hopper backward of `path` (FlashParams.pace_grid, kernels/sm80/rows.cuh):
 * where `side` runs and is marked pacedBlocks, the main kernel is persistent (it claims items from a counter, which
 * the side reads) and is launched to overlap the side (else its counter stands at 0 until the side ends, and every
 * side block would wait out its 2 ms stall guard), the mask has a right window, lq and lk <= PACE_MAX_KEYS (only
 * lq = lk was measured: with many more query rows than keys, the side would zero far more rows per head within the
 * same wave), and the main kernel keeps at least three quarters of the multiprocessors. Else 0: bwd_pre_side, if any,
 * runs unpaced on launchGrid's blocks, and the main kernel on every multiprocessor.
 */
export function pacedSideBlocks(
  device: Pick<CudaDevice, 'multiprocessorCount' | 'canOverlapLaunches'>,
  p: AttentionProblem,
  path: BackwardPath,
  side: KernelEntry | undefined,
): number {
  if (side?.pacedBlocks === undefined || path.arch !== 'sm_90a' || path.entry.persistent !== true) return 0;
  if (!device.canOverlapLaunches || path.entry.waitsForPreviousGrid !== true) return 0;
  if (p.windowRight < 0 || p.lq > PACE_MAX_KEYS || p.lk > PACE_MAX_KEYS) return 0;
  return 4 * side.pacedBlocks <= device.multiprocessorCount ? side.pacedBlocks : 0;
}

/** A backward call's kernels, found (and loaded) before anything is allocated or enqueued, and what they need. */
export interface BackwardPlan {
  path: BackwardPath;
  kernels: ResolvedKernel[];
  /** FlashParams.ready_rows: the query rows per ready flag of the plan's bwd_pre_side, 0 where it has none. */
  readyRows: number;
  /**
   * FlashParams.pace_grid of the plan's bwd_pre_side: the main kernel's grid where the side is paced, else 0. The
   * side then runs on pacedSideBlocks blocks and the main kernel on the multiprocessors left.
   */
  paceGrid: number;
  /**
   * uint32 words of counter workspace after softmax_d: dq_done's n * hk counters, and bwd_pre_side's ready flags
   * where it runs (readyFlagCount).
   */
  counterWords: number;
  /**
   * Whether any kernel touches dq_accum: every default backward does (bwd_pre zeroes it, bwd adds into it, bwd_dq
   * reads it). A deterministic one on the Hopper path does not where its bwd_pre may leave dq_accum alone
   * (accumOptional) or none runs: the Hopper bwd then skips its dQ and bwd_dq_det writes dq itself. The sm_80 bwd
   * adds into dq_accum in either mode.
   */
  usesAccum: boolean;
}

/**
 * The plan of the backward over `pointers` (dq_accum not allocated yet: the path's choice does not depend on it, as
 * the allocator aligns it). A build missing a kernel (bwd_dq_det) fails here, before anything is allocated.
 */
export function planBackward(device: CudaDevice, p: AttentionProblem, pointers: BackwardPathInputs['pointers'] & SidePrePointers): BackwardPlan {
  const path = backwardPath(device, p, pointers);
  const entries = backwardEntries(device, p, path, pointers);
  const sideBlocks = pacedSideBlocks(device, p, path, entries.find((entry) => entry.phase === 'bwd_pre_side'));
  // Every kernel is loaded here, before any is enqueued: the paced bwd_pre_side waits for the main kernel's claims,
  // and a kernel first loaded at its launch may wait for the grids already running.
  const main = path.arch === 'sm_90a' ? path.entry : undefined;
  const kernels = entries.map((entry) => {
    const resolved = resolveEntry(device, entry, p, device.multiprocessorCount - (entry === main ? sideBlocks : 0));
    if (sideBlocks === 0 || entry.phase !== 'bwd_pre_side') return resolved;
    return { ...resolved, grid: [Math.min(resolved.grid[0], sideBlocks), 1, 1] as [number, number, number] };
  });
  const usesAccum = !p.deterministic || kernels.some(({ entry }) =>
    (entry.phase === 'bwd' && entry.arch === 'sm_80') || (entry.phase === 'bwd_pre' && entry.accumOptional !== true));
  const readyRows = kernels.find(({ entry }) => entry.phase === 'bwd_pre_side')?.entry.tileRows ?? 0;
  const counterWords = p.n * p.hk + (readyRows === 0 ? 0 : readyFlagCount(p, readyRows));
  const paceGrid = sideBlocks === 0 ? 0 : kernels.find(({ entry }) => entry === main)?.grid[0] ?? 0;
  return { path, kernels, usesAccum, readyRows, counterWords, paceGrid };
}

/**
 * Enqueues the backward of `plan` over `base` (every address filled in, the workspace softmax_d too, and dq_accum
 * where plan.usesAccum, else 0; lq, lk > 0); `counters` is plan.counterWords uint32 words of workspace the Hopper
 * backward may count its items on (itemCounters), followed by bwd_pre_side's ready flags where it runs.
 */
export function launchBackward(device: CudaDevice, p: AttentionProblem, plan: BackwardPlan, base: FlashParams, counters: CUdeviceptr): void {
  const { path, kernels } = plan;
  const { q, k, v, dout, dq_accum } = base;
  // bwd_pre zeroes the counters, the Hopper bwd counts on them and bwd_dq waits on them: all three are given them.
  // bwd_pre_side cannot zero them (the Hopper bwd counts while it runs): a fill zeroes them and its ready flags first.
  if (plan.readyRows !== 0) device.fillWords(counters, 0, plan.counterWords);
  const params = { ...base, ...itemCounters(p, path, counters), ready_rows: plan.readyRows };
  const flat = packFlashParams(params);
  // The deterministic backward never reads dq_accum, so a bwd_pre that can leave it alone is given none (its dot
  // products alone: about half the pass's time). An older build's bwd_pre zeroes dq_accum whatever the mode and
  // must be given it. (Clearing dq_accum by a memset in the default mode was slower: bench/NOTES.md R4.)
  const skipsClearing = p.deterministic
    && kernels.some((kernel) => kernel.entry.phase === 'bwd_pre' && kernel.entry.accumOptional === true);
  const preParams = skipsClearing ? packFlashParams({ ...params, dq_accum: 0n }) : flat;
  // The deterministic backward's dq comes from bwd_dq_det: the Hopper bwd, given no dq_accum, skips its dQ products
  // and reductions (the sm_80 bwd has no such switch: it still adds into dq_accum, which nothing reads).
  const hopperParams = p.deterministic ? { ...params, dq_accum: 0n } : params;
  // A persistent Hopper backward's blocks claim items from a counter (as the forward's claim tiles).
  const tileCounter = path.arch === 'sm_90a' && path.entry.persistent === true ? nextTileCounter(device) : 0n;
  const main = path.arch === 'sm_90a'
    ? packBwd90Args(hopperMaps(device, path, { q, k, v, dout, dq_accum }), { ...hopperParams, tile_counter: tileCounter })
    : flat;
  // A paced bwd_pre_side reads the main kernel's claims on its counter.
  const sideParams = plan.paceGrid === 0 ? flat : packFlashParams({
    ...params,
    tile_counter: tileCounter,
    pace_grid: plan.paceGrid,
    pace_key_rows: path.arch === 'sm_90a' ? path.entry.tileRows : 0,
  });
  // Every sm_90a kernel of the backward (bwd, and the Hopper bwd_dq_det) takes the BwdArgs.
  for (const kernel of kernels) {
    const phase = kernel.entry.phase;
    const args = kernel.entry.arch === 'sm_90a' ? main : phase === 'bwd_pre' ? preParams : phase === 'bwd_pre_side' ? sideParams : flat;
    launchKernel(device, kernel, args);
  }
}

/**
 * The Hopper backward's maps over `addresses`. With no dq_accum workspace (0: a deterministic backward that
 * allocated none) its map is left zero: given no dq_accum, the kernels neither prefetch nor use that map.
 */
function hopperMaps(
  device: CudaDevice,
  path: Extract<BackwardPath, { arch: 'sm_90a' }>,
  addresses: Record<Bwd90Map, bigint>,
): Record<Bwd90Map, Readonly<Uint8Array>> {
  if (addresses.dq_accum !== 0n) return device.encodeTensorMaps(path.maps, addresses);
  const { dq_accum: _unread, ...read } = path.maps;
  return { ...device.encodeTensorMaps<Exclude<Bwd90Map, 'dq_accum'>>(read, addresses), dq_accum: new Uint8Array(CU_TENSOR_MAP_BYTES) };
}
