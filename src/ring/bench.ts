import { OptionError, ShapeError } from '../errors.js';
import { median } from '../stats.js';
import { type Dtype, encodeArray } from '../dtype.js';
import { flashMhaBwd, flashMhaFwd } from '../attention.js';
import { synchronize, timeOnDevice } from '../backend/cuda/timing.js';
import { parseDevice } from '../device.js';
import { type Releasable, disposals, disposeOnThrow, releaseAll, thenRelease, thenReleaseAsync } from '../release.js';
import { type Tensor, normalSamples, tensor } from '../tensor.js';
import type { SequenceLayout } from './layout.js';
import { ringFlashMhaBwd, ringFlashMhaFwd } from './attention.js';
import { timeComputeOnDevices } from './cuda-clock.js';
import { type RingStats, emptyStats } from './schedule.js';
import { type ShardedTensor, shardSequence } from './sharded.js';

export interface RingBenchOptions {
  /** The ring's devices, like ['cpu:0', 'cpu:1', 'cpu:2', 'cpu:3']. */
  devices: readonly string[];
  layout?: SequenceLayout;
  /** Global sequence length (divisible by the layout's chunk count). */
  length: number;
  n?: number;
  h?: number;
  hk?: number;
  d?: number;
  dtype?: Dtype;
  isCausal?: boolean;
  /** Timed repetitions (median reported). */
  repeats?: number;
  /**
   * Untimed runs of each kind before timing (default 5 on CUDA, 1 on CPU): the ring's host code must be warm
   * (JIT-compiled), or its enqueue time is that of cold code.
   */
  warmup?: number;
  /**
   * The warm-up goes on in rounds (one single-device run and one ring run each) until it has taken at least this
   * many milliseconds (default 0: `warmup` rounds), so that idle GPUs reach their clocks before the first timing.
   * Nothing when `warmup` is 0.
   */
  spinUpMs?: number;
  backward?: boolean;
  /**
   * The unsharded inputs on devices[0] ([n, length, h or hk, d] in `dtype`), when the caller reuses them
   * across runs: filling them takes seconds at long lengths. Default: seeded random tensors made and
   * disposed here.
   */
  inputs?: RingBenchInputs;
}

export interface RingBenchInputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dout: Tensor;
}

export interface RingBenchResult {
  worldSize: number;
  layout: SequenceLayout;
  pass: 'forward' | 'backward';
  /** FlashAttention FLOP convention: 4 n h lq lk d, halved when causal, backward 2.5x. */
  flops: number;
  /** The whole problem on devices[0] alone (median seconds; CUDA events on a GPU). */
  singleSeconds: number;
  /**
   * Wall time of the ring call until every device is idle (median). On CPU virtual devices, and on ranks
   * sharing one GPU, the ranks run one after another.
   */
  ringWallSeconds: number;
  /** Host time until the ring call returned (median): above ringWallSeconds' device share, the host is the bottleneck. */
  enqueueSeconds: number;
  /**
   * Time if the ranks ran in parallel with free transfers: sum over steps of the slowest rank's compute
   * (CUDA events around each rank's compute on a GPU). The figure for virtual devices; on distinct real
   * GPUs compare with ringWallSeconds.
   */
  ringParallelSeconds: number;
  /** flops / worldSize / ringParallelSeconds / 1e12 */
  perDeviceTflops: number;
  /** singleSeconds / (worldSize * ringParallelSeconds): 1 is perfect scaling (of the compute alone). */
  scalingEfficiency: number;
  /**
   * singleSeconds / (worldSize * ringWallSeconds): the scaling a user sees on distinct GPUs, transfers,
   * merges and host overhead included (on virtual ranks sharing one GPU it is about 1 / W).
   */
  wallEfficiency: number;
  /** Max over ranks of computed pairs / mean: 1 is perfectly balanced work. */
  imbalance: number;
}


/** Rows of seeded random data the bench inputs repeat along the sequence. */
const INPUT_TILE_ROWS = 4096;

/**
 * Seeded random bench inputs on `device` (the caller disposes them). The values repeat every 4096 positions
 * along the sequence: timing does not depend on them, and drawing and rounding every element of 64k-token
 * tensors one by one takes minutes of host time.
 */
export function benchInputs(device: string, s: { n: number; length: number; h: number; hk: number; d: number; dtype: Dtype }): RingBenchInputs {
  const make = (heads: number, seed: number) => {
    const rows = Math.min(s.length, INPUT_TILE_ROWS);
    const rowElements = heads * s.d;
    const tile = encodeArray(normalSamples(s.n * rows * rowElements, seed), s.dtype);
    // Copied as bytes: one code path for both element types.
    const rowBytes = rowElements * tile.BYTES_PER_ELEMENT;
    const from = new Uint8Array(tile.buffer, tile.byteOffset, tile.byteLength);
    const bytes = new Uint8Array(s.n * s.length * rowBytes);
    for (let b = 0; b < s.n; b++) {
      const batchTile = from.subarray(b * rows * rowBytes, (b + 1) * rows * rowBytes);
      for (let row = 0; row < s.length; row += rows) {
        bytes.set(batchTile.subarray(0, Math.min(rows, s.length - row) * rowBytes), (b * s.length + row) * rowBytes);
      }
    }
    const whole = s.dtype === 'float32' ? new Float32Array(bytes.buffer) : new Uint16Array(bytes.buffer);
    return tensor(whole, [s.n, s.length, heads, s.d], { dtype: s.dtype, device });
  };
  return disposeOnThrow((keep) => ({ q: keep(make(s.h, 1)), k: keep(make(s.hk, 2)), v: keep(make(s.hk, 3)), dout: keep(make(s.h, 4)) }));
}

/** Given inputs must be what the options describe, or the FLOP count would be another problem's. */
function checkInputs(inputs: RingBenchInputs, device: string, dtype: Dtype, qShape: number[], kShape: number[]): void {
  const expected: [keyof RingBenchInputs, number[]][] = [['q', qShape], ['k', kShape], ['v', kShape], ['dout', qShape]];
  for (const [name, shape] of expected) {
    const t = inputs[name];
    if (t.device !== device || t.dtype !== dtype || t.shape.join() !== shape.join()) {
      throw new ShapeError(`inputs.${name}: expected ${dtype} [${shape}] on ${device}, got ${t.dtype} [${t.shape}] on ${t.device}`);
    }
  }
}

function parallelSeconds(stats: RingStats): number {
  return stats.computeSeconds.reduce((sum, row) => sum + Math.max(0, ...row.filter((x) => x !== undefined)), 0);
}

/** Hands every part of `parts` to benchRing, which disposes them when it is done; returns `parts`. */
type Keep = <T extends { [K in keyof T]: Releasable }>(parts: T) => T;

/** The per-repeat timings of benchRing, and the stats of the last ring run (for the pair counts). */
interface Timings {
  singleTimes: number[];
  wallTimes: number[];
  enqueueTimes: number[];
  parallelTimes: number[];
  last: RingStats;
}

/**
 * Measures ring attention on `devices` against one device running the same total work. What
 * `npx flash-attn bench --ring` prints.
 */
export async function benchRing(options: RingBenchOptions): Promise<RingBenchResult> {
  const { devices, length } = options;
  const layout = options.layout ?? 'zigzag';
  const [n, h, d] = [options.n ?? 1, options.h ?? 4, options.d ?? 64];
  const hk = options.hk ?? h;
  const dtype = options.dtype ?? 'float32';
  const isCausal = options.isCausal ?? true;
  const backward = options.backward ?? false;
  const w = devices.length;
  const spinUpMs = options.spinUpMs ?? 0;
  if (!Number.isFinite(spinUpMs) || spinUpMs < 0) throw new OptionError(`spinUpMs: expected a number of milliseconds >= 0, got ${spinUpMs}`);
  if (options.inputs) checkInputs(options.inputs, devices[0], dtype, [n, length, h, d], [n, length, hk, d]);
  // Everything made here (inputs unless given, shards, reference outputs) is disposed whatever happens, newest first.
  const made: Releasable[] = [];
  const keep: Keep = (parts) => {
    made.push(...(Object.values(parts) as Releasable[]));
    return parts;
  };
  const { singleTimes, wallTimes, enqueueTimes, parallelTimes, last } = await thenReleaseAsync(
    async () => {
      const inputs = options.inputs ?? keep(benchInputs(devices[0], { n, length, h, hk, d, dtype }));
      const [sq, sk, sv, sdout] = [inputs.q, inputs.k, inputs.v, inputs.dout].map((t) => {
        const sharded = shardSequence(t, devices, { layout });
        made.push(sharded);
        return sharded;
      });
      return measure(options, { ...inputs, sq, sk, sv, sdout }, keep);
    },
    () => disposals([...made].reverse()),
  );

  const forwardFlops = (4 * n * h * length * length * d) / (isCausal ? 2 : 1);
  const flops = backward ? 2.5 * forwardFlops : forwardFlops;
  const singleSeconds = median(singleTimes);
  const ringParallelSeconds = median(parallelTimes);
  const meanPairs = last.pairsByRank.reduce((a, b) => a + b, 0) / w;
  return {
    worldSize: w,
    layout,
    pass: backward ? 'backward' : 'forward',
    flops,
    singleSeconds,
    ringWallSeconds: median(wallTimes),
    enqueueSeconds: median(enqueueTimes),
    ringParallelSeconds,
    perDeviceTflops: flops / w / ringParallelSeconds / 1e12,
    scalingEfficiency: singleSeconds / (w * ringParallelSeconds),
    wallEfficiency: singleSeconds / (w * median(wallTimes)),
    imbalance: Math.max(...last.pairsByRank) / meanPairs,
  };
}

/** The inputs of benchRing's runs: the whole tensors on devices[0] and their shards. */
interface BenchTensors extends RingBenchInputs {
  sq: ShardedTensor;
  sk: ShardedTensor;
  sv: ShardedTensor;
  sdout: ShardedTensor;
}

/** benchRing's warm-up and timed repeats; `keep` takes what must outlive the runs (benchRing disposes it). */
async function measure(options: RingBenchOptions, x: BenchTensors, keep: Keep): Promise<Timings> {
  const { devices } = options;
  const w = devices.length;
  const repeats = options.repeats ?? 3;
  const backward = options.backward ?? false;
  const opts = { isCausal: options.isCausal ?? true };
  const { q, k, v, dout, sq, sk, sv, sdout } = x;
  const single = keep(flashMhaFwd(q, k, v, opts));
  const ringFwd = keep(ringFlashMhaFwd(sq, sk, sv, opts));
  const singleRun = () =>
    backward ? Object.values(flashMhaBwd(dout, q, k, v, single.out, single.lse, opts)) : Object.values(flashMhaFwd(q, k, v, opts));
  const ringRun = (stats: RingStats) =>
    backward
      ? Object.values(ringFlashMhaBwd(sdout, sq, sk, sv, ringFwd.out, ringFwd.lse, opts, stats))
      : Object.values(ringFlashMhaFwd(sq, sk, sv, opts, stats));

  // On CUDA the calls only enqueue: wait for every device of the ring, and time compute with events.
  const onCuda = parseDevice(devices[0]).kind === 'cuda';
  const idle = () => {
    if (onCuda) for (const device of new Set(devices)) synchronize(device);
  };
  /** Wall seconds of `run` until every device is idle, and the host seconds until it returned (enqueuing). */
  const time = (run: () => Releasable[]) => {
    idle();
    const start = process.hrtime.bigint();
    const outputs = run();
    const enqueued = process.hrtime.bigint();
    // The outputs go even when the wait reports a fault, which is then the error that goes on.
    return thenRelease(
      () => {
        idle();
        return { seconds: Number(process.hrtime.bigint() - start) / 1e9, enqueueSeconds: Number(enqueued - start) / 1e9 };
      },
      () => disposals(outputs),
    );
  };
  const timeSingle = async () => {
    if (!onCuda) return time(singleRun).seconds;
    const [ms] = await timeOnDevice(devices[0], () => releaseAll(disposals(singleRun())), 1);
    return ms / 1e3;
  };
  const warmup = options.warmup ?? (onCuda ? 5 : 1);
  const spinUpMs = options.spinUpMs ?? 0;
  const warmStart = process.hrtime.bigint();
  const warmedMs = () => Number(process.hrtime.bigint() - warmStart) / 1e6;
  for (let i = 0; i < warmup || (warmup > 0 && warmedMs() < spinUpMs); i++) {
    await timeSingle();
    time(() => ringRun(emptyStats(w)));
  }
  const timings: Timings = { singleTimes: [], wallTimes: [], enqueueTimes: [], parallelTimes: [], last: emptyStats(w) };
  for (let i = 0; i < repeats; i++) {
    timings.singleTimes.push(await timeSingle());
    const stats = (timings.last = emptyStats(w));
    if (!onCuda) {
      // On the host, one run gives both: its spans are hrtime readings inside the same run.
      const run = time(() => ringRun(stats));
      timings.wallTimes.push(run.seconds);
      timings.enqueueTimes.push(run.enqueueSeconds);
      timings.parallelTimes.push(parallelSeconds(stats));
      continue;
    }
    // The wall run carries no device clock (its events would cost host time); a second run measures compute.
    const wall = time(() => ringRun(emptyStats(w)));
    timings.wallTimes.push(wall.seconds);
    timings.enqueueTimes.push(wall.enqueueSeconds);
    await timeComputeOnDevices(devices, stats, () => time(() => ringRun(stats)));
    timings.parallelTimes.push(parallelSeconds(stats));
  }
  return timings;
}
