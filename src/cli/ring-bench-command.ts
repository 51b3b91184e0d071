import { devices as listDevices } from '../devices.js';
import { parseDevice } from '../device.js';
import { checkDevice } from '../tensor.js';
import type { Dtype } from '../dtype.js';
import { type RingBenchInputs, type RingBenchResult, benchInputs, benchRing } from '../ring/index.js';
import type { SequenceLayout } from '../ring/layout.js';
import { causalModes, choice, headDims, list, single } from './args.js';
import { commit, machine } from './provenance.js';
import { SPIN_UP_MS, standardHeads } from './bench.js';
import { Progress } from './progress.js';

export interface RingBenchArgs {
  device: string;
  dtype: Dtype;
  /** Tokens per device, comma-separated. */
  l?: string;
  d?: string;
  h?: string;
  world?: string;
  layout?: string;
  causal?: string;
  repeats?: string;
  warmup?: string;
  json?: boolean;
}

/**
 * The devices of a ring of `w` from `first` on (cuda:1 with w = 2: cuda:1, cuda:2) while there are enough of its
 * kind, else `first` repeated (W virtual ranks on one device, so the ring code runs even without W devices).
 */
function ringDevices(first: string, w: number, available: readonly string[]): string[] {
  const { kind, index } = parseDevice(first);
  const from = available.filter((name) => parseDevice(name).kind === kind).slice(index);
  return from.length >= w ? from.slice(0, w) : Array.from({ length: w }, () => first);
}

/** `flash-attn bench --ring`: per-device throughput and scaling efficiency against one device. */
export async function ringBenchCommand(args: RingBenchArgs): Promise<number> {
  const kind = parseDevice(args.device, '--device').kind;
  // The backend's own error (no driver, no such device) before any work, not a shape error from inputs made elsewhere.
  const first = checkDevice(args.device, '--device');
  const available = listDevices();
  const onGpu = kind === 'cuda';
  const worlds = list('world', args.world, [1, 2, 4]);
  const perDevice = list('l', args.l, onGpu ? [8192] : [256]);
  const [d] = headDims([single('d', args.d, onGpu ? 128 : 64)]);
  const h = single('h', args.h, onGpu ? standardHeads(d) : 4);
  const layouts = choice<SequenceLayout[]>('layout', args.layout, { zigzag: ['zigzag'], contiguous: ['contiguous'], both: ['zigzag', 'contiguous'] }, 'zigzag');
  const causals = causalModes(args.causal);
  const repeats = single('repeats', args.repeats, 3);
  const warmup = args.warmup === undefined ? undefined : single('warmup', args.warmup, 1, 0);
  const jobs = worlds.flatMap((w) => perDevice.flatMap((l) => layouts.flatMap((layout) => causals.flatMap((isCausal) => [false, true].map((backward) => ({ w, l, layout, isCausal, backward }))))));
  const progress = new Progress(jobs.length);
  const rows: (RingBenchResult & { tokensPerDevice: number; isCausal: boolean; devices: string[] })[] = [];
  // Jobs of one ring size and length share their inputs (filling them takes seconds at 64k tokens).
  let inputs: { key: string; tensors: RingBenchInputs } | undefined;
  const release = () => Object.values(inputs?.tensors ?? {}).forEach((t) => t.dispose());
  try {
    for (const job of jobs) {
      const devices = ringDevices(first, job.w, available);
      const length = job.l * job.w;
      const key = `${devices[0]} ${length}`;
      if (inputs?.key !== key) {
        release();
        inputs = { key, tensors: benchInputs(devices[0], { n: 1, length, h, hk: h, d, dtype: args.dtype }) };
      }
      // As bench's first case: idle GPUs reach their clocks before the first timing (later jobs find them warm).
      const spinUpMs = onGpu && rows.length === 0 ? SPIN_UP_MS : 0;
      const result = await benchRing({
        devices, length, layout: job.layout, h, d, dtype: args.dtype, isCausal: job.isCausal, repeats, warmup, spinUpMs, backward: job.backward, inputs: inputs.tensors,
      });
      rows.push({ ...result, tokensPerDevice: job.l, isCausal: job.isCausal, devices });
      progress.step(`W=${job.w} ${job.layout} l/device=${job.l}${job.isCausal ? ' causal' : ''} ${job.backward ? 'backward' : 'forward'}`);
    }
  } finally {
    release();
  }
  if (args.json) {
    console.log(JSON.stringify({ date: new Date().toISOString(), commit: commit(), machine: machine(args.device), device: args.device, dtype: args.dtype, h, d, rows }, null, 2));
    return 0;
  }
  const [unit, unitName] = onGpu ? [1e12, 'TFLOP/s'] : [1e9, 'GFLOP/s'];
  console.log(`flash-attn bench --ring on ${kind}, ${args.dtype}, h=${h}, d=${d}; efficiency = one device's time for the whole problem / (W x ring time)`);
  console.log(
    'compute: ring time = sum over steps of the slowest rank\'s compute (ranks in parallel, transfers free; the figure for virtual ranks); ' +
      'wall: ring time = the whole call until every device is idle (the figure for distinct GPUs)',
  );
  console.log(
    `| W | devices | layout | causal | pass | tokens/device | one device ms | ring wall ms | host enqueue ms | per-device ${unitName} (wall) | efficiency (wall) | efficiency (compute) | work imbalance |`,
  );
  console.log('|---|---------|--------|--------|------|---------------|---------------|--------------|-----------------|------|-------------------|----------------------|----------------|');
  const ms = (seconds: number) => (seconds * 1e3).toFixed(3);
  for (const r of rows) {
    const wallTflops = r.flops / r.worldSize / r.ringWallSeconds / unit;
    // cpu:N devices share the host and run one after another: virtual, like ranks repeating one GPU.
    const distinct = onGpu && new Set(r.devices).size === r.devices.length ? 'distinct' : 'virtual';
    console.log(
      `| ${r.worldSize} | ${distinct} | ${r.layout} | ${r.isCausal ? 'yes' : 'no'} | ${r.pass} | ${r.tokensPerDevice} | ${ms(r.singleSeconds)} | ${ms(r.ringWallSeconds)} | ${ms(r.enqueueSeconds)} | ${wallTflops.toFixed(2)} | ` +
        `${(100 * r.wallEfficiency).toFixed(1)}% | ${(100 * r.scalingEfficiency).toFixed(1)}% | ${r.imbalance.toFixed(2)} |`,
    );
  }
  return 0;
}
