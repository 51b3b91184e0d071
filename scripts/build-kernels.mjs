// Builds the CUDA kernels ahead of time: kernels/sm80/flash_sm80.cu once per (dtype, head dim) into
// kernels/build/<name>.fatbin (sm_80 and sm_90 machine code + compute_80 PTX for newer GPUs; head dims listed in
// PTXAS_REGISTER_LEVEL get a second fatbin, <name>_bwd_large.fatbin, for their large backward, and those in
// DQ_DET_REGISTER_LEVEL one for the deterministic dq pass, <name>_bwd_dq_det.fatbin), the Hopper
// forward (and, for d = 64, 128 and 256, the Hopper backward's main pass) kernels/sm90/flash_sm90.cu once per (dtype,
// head dim) into flash_sm90_<dtype>_d<D>.fatbin (sm_90a machine code only: it runs on compute capability 9.0 and
// nowhere else), and writes
// kernels/build/manifest.json, the table the runtime launches from. Prints registers, spills and shared
// memory per kernel and fails on any spill.
//   node scripts/build-kernels.mjs [--if-nvcc] [--only=bf16:128,...] [--out=DIR] [--define=NAME,...]
// --if-nvcc: when nvcc is not installed, say so in one line and exit 0 (npm install on a CPU-only machine).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePtxasReport } from './ptxas-report.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'kernels', 'sm80');
const SRC90 = join(ROOT, 'kernels', 'sm90');
const COMMON = join(ROOT, 'kernels', 'common');
const OUT_ARG = process.argv.find((a) => a.startsWith('--out='));
// --out=DIR builds elsewhere (an experiment beside the real build); default kernels/build.
const OUT = OUT_ARG ? OUT_ARG.slice('--out='.length) : join(ROOT, 'kernels', 'build');
// --define=NAME,... compiles every unit, describe.cu's included (the shapes it prints may depend on them), with -DNAME
// each: a probe's macro, for an experiment build with --out.
const DEFINE_ARG = process.argv.find((a) => a.startsWith('--define='));
const DEFINES = DEFINE_ARG ? DEFINE_ARG.slice('--define='.length).split(',').filter(Boolean).map((name) => `-D${name}`) : [];
const HEAD_DIMS = [32, 64, 96, 128, 160, 192, 224, 256];
const HEAD_DIMS_90 = [64, 128, 192, 256];
const DTYPES = [
  { tag: 'f16', name: 'float16' },
  { tag: 'bf16', name: 'bfloat16' },
];
const PARALLEL = 2;
// Dynamic shared memory a block may opt into: sm_86 / sm_89 allow 99 KB, sm_90 227 KB. Every phase must have a
// sm_80 variant within the first; larger variants (picked by the runtime where they fit) and the sm_90a kernels
// within the second.
const SMALLEST_SMEM_LIMIT = 101376;
const LARGEST_SMEM_LIMIT = 232448;
const NVCC_FLAGS = [
  '-std=c++17', '-O3', `-I${COMMON}`,
  '-gencode', 'arch=compute_80,code=sm_80',
  // Hopper machine code of the same kernels (the driver prefers it on 9.0): they use sm_90's vector atomics.
  '-gencode', 'arch=compute_90,code=sm_90',
  '-gencode', 'arch=compute_80,code=compute_80',
  '-Xptxas', '-v',
];
// wgmma and setmaxnreg exist only in the arch-specific sm_90a target (no PTX: it would not run elsewhere).
const NVCC_FLAGS_90 = ['-std=c++17', '-O3', `-I${COMMON}`, '-gencode', 'arch=compute_90a,code=sm_90a', '-Xptxas', '-v'];

// ptxas --register-usage-level for the large backward of these head dims, where the default (5) spills: the d128
// variant (2x2 m-tiles per warp, 128 dK/dV accumulator registers) is spill-free at 0 and spills 16 bytes at 5 and 10.
// (d256 with 2x2 m-tiles was spill-free only at 3 of 3, 5, 7-10, and measured no faster than 1x1 with BR = 64.)
const PTXAS_REGISTER_LEVEL = { 128: 0 };
// The same for the deterministic dq pass (kernels/sm80/dq.cuh), which holds dQ in D / 2 registers per thread: at the
// default level ptxas spills 112 bytes for d >= 192 (none at 0-3); at 0, d96 and d160 spill 4 bytes instead.
const DQ_DET_REGISTER_LEVEL = { 192: 0, 224: 0, 256: 0 };
// And for the main unit (FLASH_PART=1) of these head dims: with sm_90 machine code beside sm_80, ptxas spills in the
// sm_90 code of flash_fwd_*_d128 (20 bytes) and flash_bwd_large_*_d256 (4 bytes) at the default level 5, none at 0-3.
const MAIN_REGISTER_LEVEL = { 128: 3, 256: 3 };
// The spills the build accepts, by phase and head dim, up to these bytes: any other spill, a larger one, or one in a
// device function a kernel calls refuses the build. Each was measured with the spill in it on an H100 and kept because
// the kernel was faster than the spill-free form before it:
// - bwd_pre_side at d = 128 (1024 threads, so 64 registers) has spilled since pacing (kernels/sm80/rows.cuh pace_rows;
//   bench/NOTES.md PACE2, +7% at causal 512), which this script's report hid until session 39 (ptxas-report.mjs read
//   pace_rows's clean frame into the kernel). Removing it changes the kernel, which needs a GPU run (NOTES SPILL1).
// - bwd_pre_side at d = 64 (8 loads in flight a lane) and the d = 64 Hopper backward (bwd90), whose producer's 24
//   registers spill 8 bytes once its row lanes wait on the ready flags (bench/NOTES.md SIDE64: +3-5% causal
//   512-2048; the 4-load side, spill-free, was 4% slower at causal 512).
const ACCEPTED_SPILLS = {
  'bwd_pre_side:128': { stores: 40, loads: 36 },
  'bwd_pre_side:64': { stores: 36, loads: 32 },
  'bwd90:64': { stores: 8, loads: 8 },
};

function fail(message) {
  console.error(`build-kernels: ${message}`);
  process.exit(1);
}

function nvccVersion() {
  const r = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  const m = /release ([\d.]+)/.exec(r.stdout);
  return m ? m[1] : 'unknown';
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => resolve({ code: -1, out: `${out}${e.message}` }));
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function pool(jobs, width) {
  const results = new Array(jobs.length);
  let next = 0;
  async function worker() {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return results;
}

// Launch shapes straight from the kernels' own config structs (a host-only program per family); each shape
// carries its family's arch.
async function describeShapes(src, exeName) {
  const exe = join(OUT, exeName);
  const built = await run('nvcc', ['-std=c++17', `-I${COMMON}`, ...DEFINES, '-o', exe, join(src, 'describe.cu')]);
  if (built.code !== 0) fail(`${join(src, 'describe.cu')} failed to compile:\n${built.out}`);
  const ran = spawnSync(exe, { encoding: 'utf8' });
  if (ran.status !== 0) fail(`${exeName} failed: ${ran.stderr}`);
  return ran.stdout.trim().split('\n').map((line) => ({ arch: 'sm_80', ...JSON.parse(line) }));
}

function parseOnly(argv) {
  const arg = argv.find((a) => a.startsWith('--only='));
  if (!arg) return null;
  return new Set(arg.slice('--only='.length).split(','));
}

async function main() {
  const argv = process.argv.slice(2);
  const version = nvccVersion();
  if (version === null) {
    if (argv.includes('--if-nvcc')) {
      console.log('build-kernels: nvcc not found; CUDA kernels not built (the CPU backend works without them).');
      return;
    }
    fail('nvcc not found on PATH; install the CUDA toolkit or pass --if-nvcc to skip');
  }
  const only = parseOnly(argv);
  const started = Date.now();
  mkdirSync(OUT, { recursive: true });
  const shapes = [...(await describeShapes(SRC, 'describe')), ...(await describeShapes(SRC90, 'describe90'))];

  // One fatbin per (dtype, head dim); where the head dim has a ptxas register level for flash_bwd_large or
  // flash_bwd_dq_det, that kernel is compiled alone into its own fatbin with that level (FLASH_PART=2 or 3) and
  // the other kernels without it (FLASH_PART=1).
  const units = [];
  for (const dt of DTYPES)
    for (const d of HEAD_DIMS) {
      if (only && !only.has(`${dt.tag}:${d}`)) continue;
      const sm80 = { dt, d, arch: 'sm_80', flags: NVCC_FLAGS, source: join(SRC, 'flash_sm80.cu') };
      const largeApart = d in PTXAS_REGISTER_LEVEL, dqDetApart = d in DQ_DET_REGISTER_LEVEL;
      units.push({
        ...sm80, file: `flash_sm80_${dt.tag}_d${d}.fatbin`,
        extra: [
          '-DFLASH_PART=1', ...(largeApart ? ['-DFLASH_LARGE_APART'] : []), ...(dqDetApart ? ['-DFLASH_DQ_DET_APART'] : []),
          ...(d in MAIN_REGISTER_LEVEL ? ['-Xptxas', `--register-usage-level=${MAIN_REGISTER_LEVEL[d]}`] : []),
        ],
      });
      if (largeApart) {
        units.push({
          ...sm80, file: `flash_sm80_${dt.tag}_d${d}_bwd_large.fatbin`,
          extra: ['-DFLASH_PART=2', '-Xptxas', `--register-usage-level=${PTXAS_REGISTER_LEVEL[d]}`],
        });
      }
      if (dqDetApart) {
        units.push({
          ...sm80, file: `flash_sm80_${dt.tag}_d${d}_bwd_dq_det.fatbin`,
          extra: ['-DFLASH_PART=3', '-Xptxas', `--register-usage-level=${DQ_DET_REGISTER_LEVEL[d]}`],
        });
      }
      if (HEAD_DIMS_90.includes(d)) {
        units.push({
          dt, d, arch: 'sm_90a', flags: NVCC_FLAGS_90, source: join(SRC90, 'flash_sm90.cu'),
          file: `flash_sm90_${dt.tag}_d${d}.fatbin`, extra: [],
        });
      }
    }
  console.log(`build-kernels: nvcc ${version}, ${units.length} fatbins, ${PARALLEL} at a time`);

  const problems = [];
  const results = await pool(
    units.map(({ dt, d, arch, flags, source, file, extra }) => async () => {
      const t0 = Date.now();
      const r = await run('nvcc', [
        ...flags, '--fatbin', `-DFLASH_DTYPE=${dt.tag}`, `-DFLASH_HEAD_DIM=${d}`, ...extra, ...DEFINES, '-o', join(OUT, file),
        source,
      ]);
      if (r.code !== 0) fail(`${file}: nvcc failed\n${r.out}`);
      // ptxas says so when it cannot honour setmaxnreg (a warning) or must serialize wgmma (C7513, "Potential
      // Performance Loss"); either would quietly cost the Hopper path most of its speed.
      for (const line of r.out.split('\n'))
        if (/ptxas.*(warning|Potential Performance Loss)/i.test(line)) problems.push(`${file}: ${line.trim()}`);
      return { dt, d, arch, file, seconds: (Date.now() - t0) / 1000, report: parsePtxasReport(r.out) };
    }),
    PARALLEL,
  );

  const kernels = [];
  console.log('kernel                          regs  spill(st/ld)  stack  smem(dyn)  threads');
  for (const { dt, d, arch, file, report } of results) {
    for (const [name, info] of report) {
      if (!info.entry && info.spillStores + info.spillLoads > 0)
        problems.push(`${file}: device function ${name} spills ${info.spillStores}/${info.spillLoads} bytes`);
    }
    for (const shape of shapes.filter((s) => s.headDim === d && s.arch === arch)) {
      const symbol = `flash_${shape.name}_${dt.tag}_d${d}`;
      const info = report.get(symbol);
      if (!info) {
        if (arch === 'sm_80') continue;  // another fatbin of this head dim has it (checked below)
        fail(`${file}: ptxas reported nothing for ${symbol}`);
      }
      const spills = info.spillStores + info.spillLoads;
      if (spills > 0) {
        const spilled = `${symbol} spills ${info.spillStores}/${info.spillLoads} bytes`;
        const accepted = ACCEPTED_SPILLS[`${shape.name}:${d}`];
        if (accepted && info.spillStores <= accepted.stores && info.spillLoads <= accepted.loads)
          console.log(`build-kernels: ${spilled} (accepted: ACCEPTED_SPILLS)`);
        else problems.push(spilled);
      }
      const limit = shape.name.endsWith('_large') || arch === 'sm_90a' ? LARGEST_SMEM_LIMIT : SMALLEST_SMEM_LIMIT;
      if (shape.smemBytes + info.staticSmem > limit)
        problems.push(`${symbol} needs ${shape.smemBytes + info.staticSmem} bytes of shared memory (> ${limit})`);
      console.log(
        `${symbol.padEnd(32)}${String(info.registers).padStart(4)}  ${`${info.spillStores}/${info.spillLoads}`.padStart(12)}` +
          `  ${String(info.stack).padStart(5)}  ${String(shape.smemBytes).padStart(9)}  ${String(shape.threads).padStart(7)}`,
      );
      kernels.push({
        file, symbol, arch, phase: shape.phase, dtype: dt.name, headDim: d, threads: shape.threads,
        smemBytes: shape.smemBytes, tileRows: shape.tileRows, gridRows: shape.gridRows, gridHeads: shape.gridHeads,
        ...(shape.keyTileRows === undefined ? {} : { keyTileRows: shape.keyTileRows }),
        ...(shape.queryTileRows === undefined ? {} : { queryTileRows: shape.queryTileRows }),
        ...(shape.dqBoxRows === undefined ? {} : { dqBoxRows: shape.dqBoxRows }),
        ...(shape.outBoxRows === undefined ? {} : { outBoxRows: shape.outBoxRows }),
        ...(shape.persistent === true ? { persistent: true } : {}),
        ...(shape.multiprocessorsPerBlock === undefined ? {} : { multiprocessorsPerBlock: shape.multiprocessorsPerBlock }),
        ...(shape.pacedBlocks === undefined ? {} : { pacedBlocks: shape.pacedBlocks }),
        // Every kernel of this tree waits for the grid before it in its sm_90 / sm_90a code (griddepcontrol.wait
        // before any global access; tests/unit/kernel-grid-wait.test.ts checks the PTX), so the runtime may launch
        // it to overlap that grid. Builds from before that carry no such field and are launched plainly.
        waitsForPreviousGrid: true,
        // This tree's bwd_pre leaves dq_accum alone when given none (the deterministic backward gives none).
        ...(shape.phase === 'bwd_pre' ? { accumOptional: true } : {}),
        // This tree's Hopper bwd counts its items on dq_done counters (bwd_items.cuh), on which bwd_dq waits.
        ...(shape.phase === 'bwd' && arch === 'sm_90a' ? { countsDqItems: true } : {}),
        // A Hopper bwd that may run beside the same build's bwd_pre_side, waiting on its ready flags (describe.cu).
        ...(shape.waitsForReadyRows === true ? { waitsForReadyRows: true } : {}),
        // A Hopper bwd_dq_det that computes D (softmax_d) itself (describe.cu says which), so that it runs first
        // and no bwd_pre runs.
        ...(shape.computesD === true ? { computesD: true } : {}),
        registers: info.registers,
      });
    }
  }
  for (const { dt, d, arch } of units)
    for (const shape of shapes.filter((s) => s.headDim === d && s.arch === arch)) {
      const symbol = `flash_${shape.name}_${dt.tag}_d${d}`;
      if (!kernels.some((k) => k.symbol === symbol)) fail(`ptxas reported nothing for ${symbol} in any fatbin`);
    }
  // A partial build (--only) keeps the manifest entries of the variants it did not rebuild.
  const manifestPath = join(OUT, 'manifest.json');
  if (only && existsSync(manifestPath)) {
    const rebuilt = new Set(kernels.map((k) => k.symbol));
    const previous = JSON.parse(readFileSync(manifestPath, 'utf8')).kernels ?? [];
    kernels.push(...previous.filter((k) => !rebuilt.has(k.symbol)));
  }
  writeFileSync(manifestPath, `${JSON.stringify({ nvcc: version, kernels }, null, 1)}\n`);
  const total = ((Date.now() - started) / 1000).toFixed(1);
  const slowest = Math.max(...results.map((r) => r.seconds)).toFixed(1);
  console.log(`build-kernels: ${kernels.length} kernels in ${results.length} fatbins, ${total} s (slowest fatbin ${slowest} s)`);
  if (problems.length > 0) fail(`refusing the build:\n  ${problems.join('\n  ')}`);
}

await main();
