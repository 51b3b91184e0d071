import { type Dtype, type HostArray, encodeArray } from '../dtype.js';
import { flashMhaBwd, flashMhaFwd } from '../attention.js';
import { backwardFlops, forwardFlops } from '../flops.js';
import { type Tensor, normalSamples, seededUniform, tensor } from '../tensor.js';
import { Progress } from './progress.js';
import { median } from '../stats.js';
import { FlashAttentionError } from '../errors.js';
import type { Timer } from './timer.js';

export interface BenchCase {
  n: number;
  l: number;
  h: number;
  d: number;
  causal: boolean;
}

export interface BenchRow extends BenchCase {
  fwdMs: number;
  bwdMs: number;
  /** FLOP/s in the FlashAttention convention (see src/flops.ts). */
  fwdFlops: number;
  bwdFlops: number;
}

export interface BenchSettings {
  device: string;
  dtype: Dtype;
  /** Timed repeats per pass; the median is reported. */
  repeats: number;
  warmup: number;
  /** Input sets cycled through so a cache does not flatter small shapes. */
  inputSets: number;
  timer: Timer;
  /**
   * Milliseconds of warm-up calls the grid's first case runs at least in each pass (forward, backward), in rounds
   * of `warmup` calls (none when `warmup` is 0): an idle GPU's clocks take longer to rise than five short calls,
   * and the first row was timed below them.
   */
  spinUpMs?: number;
  /**
   * Where set, each pass of every case is timed after at least this many milliseconds of its own calls back to back
   * (sustain), instead of after `warmup` calls: the card is then at the clock its power cap holds it to under that
   * kernel, rather than somewhere on the way down to it (bench/NOTES.md POWER1).
   */
  sustainMs?: number;
}

interface Inputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dout: Tensor;
}

/**
 * Normal samples already in the storage format of `dtype`, made once: converting hundreds of millions
 * of fresh samples in JavaScript would take longer than the benchmark itself.
 */
const POOL_SIZE = 1 << 20;
const pools = new Map<Dtype, HostArray>();

function samplePool(dtype: Dtype): HostArray {
  let pool = pools.get(dtype);
  if (!pool) {
    pool = encodeArray(normalSamples(POOL_SIZE, 12345), dtype);
    pools.set(dtype, pool);
  }
  return pool;
}

/** A random-looking tensor (never zeros) built from pool segments at seeded offsets. */
function benchTensor(shape: number[], s: BenchSettings, seed: number): Tensor {
  const pool = samplePool(s.dtype);
  const size = shape.reduce((a, b) => a * b, 1);
  const data = s.dtype === 'float32' ? new Float32Array(size) : new Uint16Array(size);
  const uniform = seededUniform(seed);
  for (let at = 0; at < size; at += POOL_SIZE / 2) {
    const start = Math.floor(uniform() * (POOL_SIZE / 2));
    const count = Math.min(POOL_SIZE / 2, size - at);
    data.set(pool.subarray(start, start + count), at);
  }
  return tensor(data, shape, { dtype: s.dtype, device: s.device });
}

function makeInputs(c: BenchCase, s: BenchSettings, seed: number): Inputs {
  const shape = [c.n, c.l, c.h, c.d];
  return {
    q: benchTensor(shape, s, seed * 4 + 1),
    k: benchTensor(shape, s, seed * 4 + 2),
    v: benchTensor(shape, s, seed * 4 + 3),
    dout: benchTensor(shape, s, seed * 4 + 4),
  };
}

/**
 * On a GPU the first case (of bench, and of bench --ring) warms up for at least this long: five calls of a 0.17 ms
 * forward left an idle H200 at low clocks, and the first row came out 10-20% slow (bench/results/2026-12-03-h200-bd7c3df).
 */
export const SPIN_UP_MS = 500;

// Bounds the warm-up's calls, should a timer read 0 ms for calls too short for it: 100 000 calls of a 5 us kernel
// are 0.5 s.
const MAX_WARMUP_CALLS = 100_000;

/**
 * Untimed calls of `pass`: rounds of `s.warmup` calls, the host waiting for each, until they have taken `minMs` by
 * `s.timer` or MAX_WARMUP_CALLS are spent (one round when `minMs` is 0). Short rounds with the host's waits between
 * them raise an idle card's clocks without holding it at full load: in back-to-back rounds (up to 64 or 2560 calls)
 * the d = 64, l = 512 forward slowed from 174 to 177-194 us a call within 0.5 s and its row was timed 5-13% slow, as
 * it was without the spin-up (bench/results/2026-12-03-h200-tail-order).
 */
async function warmUp(pass: () => void, s: BenchSettings, minMs: number): Promise<void> {
  checkWarmup(s.warmup);
  if (s.warmup === 0) return;
  let spentMs = 0;
  let calls = 0;
  while (calls === 0 || (spentMs < minMs && calls < MAX_WARMUP_CALLS)) {
    spentMs += await untimedRound(pass, s, s.warmup);
    calls += s.warmup;
  }
}

// sustain's rounds double until one takes this long, so that the host's wait between two rounds (tens of
// microseconds) leaves the card idle for well under 1% of the time.
const SUSTAIN_ROUND_MS = 20;

/**
 * Untimed calls of `pass` back to back until they have taken `minMs` (at least `s.sustainMs`) by `s.timer`, or
 * MAX_WARMUP_CALLS are spent:
 * rounds of max(1, `s.warmup`) calls, doubling while a round is shorter than SUSTAIN_ROUND_MS.
 */
async function sustain(pass: () => void, s: BenchSettings, minMs: number): Promise<void> {
  checkWarmup(s.warmup);
  const asked = s.sustainMs ?? Number.NaN;
  if (!Number.isFinite(asked) || asked < 0) {
    throw new FlashAttentionError('ERR_USAGE', `sustainMs: expected a number of milliseconds >= 0, got ${s.sustainMs}`);
  }
  let round = Math.max(1, s.warmup);
  let spentMs = 0;
  let calls = 0;
  while (spentMs < minMs && calls < MAX_WARMUP_CALLS) {
    const roundMs = await untimedRound(pass, s, round);
    spentMs += roundMs;
    calls += round;
    if (roundMs < SUSTAIN_ROUND_MS) round = Math.min(2 * round, MAX_WARMUP_CALLS);
  }
}

function checkWarmup(warmup: number): void {
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new FlashAttentionError('ERR_USAGE', `warmup: expected a whole number of calls >= 0, got ${warmup}`);
  }
}

/** `calls` calls of `pass` through `s.timer`; their milliseconds in all. */
async function untimedRound(pass: () => void, s: BenchSettings, calls: number): Promise<number> {
  let spentMs = 0;
  for (const ms of await s.timer(pass, calls)) {
    if (!Number.isFinite(ms)) throw new FlashAttentionError('ERR_TIMER', `bench: the timer read ${ms} ms for a warm-up call`);
    spentMs += ms;
  }
  return spentMs;
}

/**
 * Times forward and backward of one case, each after its warm-up (at least `minWarmupMs` of it; under `s.sustainMs`,
 * that long of back-to-back calls); every tensor it makes is disposed before it returns.
 */
export async function benchCase(c: BenchCase, s: BenchSettings, minWarmupMs = 0): Promise<BenchRow> {
  const sets = Array.from({ length: s.inputSets }, (_, i) => makeInputs(c, s, i));
  const saved = sets.map((x) => flashMhaFwd(x.q, x.k, x.v, { isCausal: c.causal }));
  try {
    let turn = 0;
    const forward = () => {
      const x = sets[turn++ % sets.length];
      const { out, lse } = flashMhaFwd(x.q, x.k, x.v, { isCausal: c.causal });
      out.dispose();
      lse.dispose();
    };
    const backward = () => {
      const i = turn++ % sets.length;
      const x = sets[i];
      const g = flashMhaBwd(x.dout, x.q, x.k, x.v, saved[i].out, saved[i].lse, { isCausal: c.causal });
      g.dq.dispose();
      g.dk.dispose();
      g.dv.dispose();
    };
    const prepare = (pass: () => void) =>
      s.sustainMs === undefined ? warmUp(pass, s, minWarmupMs) : sustain(pass, s, Math.max(s.sustainMs, minWarmupMs));
    await prepare(forward);
    const fwdMs = median(await s.timer(forward, s.repeats));
    await prepare(backward);
    const bwdMs = median(await s.timer(backward, s.repeats));
    return {
      ...c,
      fwdMs,
      bwdMs,
      fwdFlops: forwardFlops(c.n, c.h, c.l, c.l, c.d, c.causal) / (fwdMs / 1e3),
      bwdFlops: backwardFlops(c.n, c.h, c.l, c.l, c.d, c.causal) / (bwdMs / 1e3),
    };
  } finally {
    for (const x of sets) for (const t of Object.values(x)) t.dispose();
    for (const r of saved) {
      r.out.dispose();
      r.lse.dispose();
    }
  }
}

/** Every case in turn; `afterCase` (the peers' timing of the same case, in bench-command.ts) runs right after each. */
export async function benchGrid(cases: BenchCase[], s: BenchSettings, afterCase?: (c: BenchCase) => Promise<void>): Promise<BenchRow[]> {
  const progress = new Progress(cases.length);
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const isFirst = rows.length === 0;
    rows.push(await benchCase(c, s, isFirst ? s.spinUpMs ?? 0 : 0));
    await afterCase?.(c);
    progress.step(`n=${c.n} l=${c.l} h=${c.h} d=${c.d}${c.causal ? ' causal' : ''}`);
  }
  return rows;
}

/** The standard grid's heads for head dim d: hidden 2048 (performance.md). */
export function standardHeads(d: number): number {
  return Math.max(1, Math.floor(2048 / d));
}

/**
 * The cases of a grid: the standard grid of performance.md (hidden 2048: h = 2048 / d; n·l = 16384 tokens) where n
 * or h is not given, so that `--n 8` alone changes the batch and nothing else.
 */
export function gridCases(sizes: { n?: number; h?: number }, ds: number[], ls: number[], causals: boolean[]): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const d of ds) for (const causal of causals) for (const l of ls) {
    const n = sizes.n ?? Math.max(1, Math.floor(16384 / l)), h = sizes.h ?? standardHeads(d);
    cases.push({ n, l, h, d, causal });
  }
  return cases;
}
