import { accessSync, constants, existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDevice } from '../device.js';
import type { Dtype } from '../dtype.js';
import { FlashAttentionError, describe } from '../errors.js';
import { checkDevice } from '../tensor.js';
import { type BenchCase, type BenchRow, SPIN_UP_MS, benchGrid, gridCases } from './bench.js';
import { printedRatio, speedGoalLines } from './bench-goals.js';
import { type PeerCase, type PeerResults, PeerSession, peersAvailable } from './peers.js';
import { deviceTimer } from './device-timer.js';
import { commit, machine } from './provenance.js';
import { causalModes, headDims, list, single } from './args.js';

export interface BenchArgs {
  device: string;
  dtype: Dtype;
  d?: string;
  l?: string;
  n?: string;
  h?: string;
  causal?: string;
  repeats?: string;
  warmup?: string;
  'sustain-ms'?: string;
  json?: boolean;
  save?: string;
  peers: boolean;
}


/** --save's file, checked before any work: a grid's results must not be lost to a path found wrong at the end. */
function checkSavePath(file: string): void {
  const refuse = (why: string) => new FlashAttentionError('ERR_USAGE', `--save: cannot write ${describe(file)}: ${why}`);
  if (file === '') throw refuse('no file named');
  const path = resolve(file);
  try {
    if (existsSync(path) && statSync(path).isDirectory()) throw refuse('it is a directory');
    accessSync(existsSync(path) ? path : dirname(path), constants.W_OK);
  } catch (error) {
    throw error instanceof FlashAttentionError ? error : refuse((error as Error).message);
  }
}

/** bench/peers.py started beside the benchmark, or undefined (with a note) where python3 has no CUDA PyTorch. */
async function startPeers(settings: Parameters<typeof PeerSession.start>[0]): Promise<PeerSession | undefined> {
  if (peersAvailable()) return PeerSession.start(settings);
  console.error('python3 with CUDA PyTorch not found: peers not timed');
  return undefined;
}

const ratio = (ours: number, theirs: number | undefined) => printedRatio(ours, theirs) ?? '-';

function table(rows: BenchRow[], unit: number, unitName: string, peers?: PeerResults): string {
  const head = ['n', 'l', 'h', 'd', 'causal', 'fwd ms', `fwd ${unitName}`, 'bwd ms', `bwd ${unitName}`];
  if (peers) head.push('fwd/FA2', 'bwd/FA2', 'fwd/cuDNN', 'bwd/cuDNN');
  const lines = rows.map((r, i) => {
    const cells = [r.n, r.l, r.h, r.d, r.causal ? 'yes' : 'no', r.fwdMs.toFixed(3), (r.fwdFlops / unit).toFixed(1), r.bwdMs.toFixed(3), (r.bwdFlops / unit).toFixed(1)].map(String);
    if (peers) {
      const p = peers.cases[i];
      cells.push(ratio(r.fwdMs, p.flash.fwdMs), ratio(r.bwdMs, p.flash.bwdMs), ratio(r.fwdMs, p.cudnn.fwdMs), ratio(r.bwdMs, p.cudnn.bwdMs));
    }
    return cells;
  });
  const widths = head.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c].length)));
  const fmt = (cells: string[]) => `| ${cells.map((x, c) => x.padStart(widths[c])).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

export async function benchCommand(args: BenchArgs): Promise<number> {
  const kind = parseDevice(args.device, '--device').kind;
  if (args.save !== undefined) checkSavePath(args.save);
  // The backend's own error (no driver, no such device) before the peers' note or any work.
  checkDevice(args.device, '--device');
  const onGpu = kind === 'cuda';
  const ds = headDims(list('d', args.d, onGpu ? [64, 128, 256] : [64]));
  const ls = list('l', args.l, onGpu ? [512, 1024, 2048, 4096, 8192, 16384] : [512, 2048]);
  const causal = causalModes(args.causal);
  // On cuda a size not given is the standard grid's; the CPU backend, far slower, defaults to n = 1, h = 8.
  const n = args.n === undefined ? undefined : single('n', args.n, 1);
  const h = args.h === undefined ? undefined : single('h', args.h, 8);
  const cases: BenchCase[] = gridCases(onGpu ? { n, h } : { n: n ?? 1, h: h ?? 8 }, ds, ls, causal);
  const repeats = single('repeats', args.repeats, onGpu ? 30 : 3);
  const settings = {
    device: args.device,
    dtype: args.dtype,
    repeats,
    warmup: args.warmup === undefined ? (onGpu ? 5 : 1) : single('warmup', args.warmup, 0, 0),
    inputSets: onGpu ? 4 : 1,
    timer: await deviceTimer(args.device),
    spinUpMs: onGpu ? SPIN_UP_MS : 0,
    sustainMs: args['sustain-ms'] === undefined ? undefined : single('sustain-ms', args['sustain-ms'], 0, 0),
  };
  // The peers of each case are timed right after flash-attn's own timing of it (PeerSession).
  const session = onGpu && args.peers ? await startPeers({ dtype: args.dtype, repeats, warmup: settings.warmup, inputSets: settings.inputSets, sustainMs: settings.sustainMs ?? 0 }) : undefined;
  const peerCases: PeerCase[] = [];
  const timePeersOf = session
    ? async (c: BenchCase) => {
        peerCases.push(await session.time(c));
      }
    : undefined;
  let rows: BenchRow[];
  try {
    rows = await benchGrid(cases, settings, timePeersOf);
  } finally {
    await session?.close();
  }
  const peers: PeerResults | undefined = session && { info: session.info, cases: peerCases };
  const report = {
    date: new Date().toISOString(),
    commit: commit(),
    machine: machine(args.device, peers?.info),
    dtype: args.dtype,
    flopConvention: 'forward 4*n*h*l*l*d (halved when causal), backward 2.5x forward',
    repeats,
    warmup: settings.warmup,
    // Milliseconds of back-to-back calls before each timed pass, ours and the peers' alike (absent: `warmup` calls).
    ...(settings.sustainMs === undefined ? {} : { sustainMs: settings.sustainMs }),
    // Peak resident memory of this whole process (inputs included): shows that no lq x lk matrix existed.
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    rows: rows.map((r, i) => ({ ...r, peers: peers?.cases[i] })),
  };
  if (args.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const [unit, unitName] = onGpu ? [1e12, 'TFLOP/s'] : [1e9, 'GFLOP/s'];
    console.log(`flash-attn bench on ${args.device} (${kind} backend), ${args.dtype}, commit ${report.commit}, ${report.date}`);
    if (settings.sustainMs !== undefined) console.log(`each pass timed after ${settings.sustainMs} ms of its own calls back to back (--sustain-ms)`);
    if (peers) console.log(`peers in the same run: PyTorch ${peers.info.torch} SDPA flash (FlashAttention-2) and cuDNN ${peers.info.cudnn} on ${peers.info.device}; ratios > 1 mean flash-attn is faster`);
    console.log(table(rows, unit, unitName, peers));
    if (peers) console.log(['Against the goals (peer time / ours):', ...speedGoalLines(rows, peers)].join('\n'));
  }
  // After the table: a file that cannot be written after all (checked at the start) loses the file, not the results.
  if (args.save !== undefined) {
    try {
      writeFileSync(args.save, `${JSON.stringify(report, null, 2)}\n`);
    } catch (error) {
      console.error(`flash-attn: --save: ${(error as Error).message}`);
      return 1;
    }
  }
  return 0;
}
