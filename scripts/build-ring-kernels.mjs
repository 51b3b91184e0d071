// Builds ring attention's element-wise kernels (kernels/ring/ring_ops.cu) into
// kernels/build/ring_ops.fatbin (sm_80 and sm_90 machine code + compute_80 PTX for other GPUs) and writes
// kernels/build/ring-manifest.json, which src/ring/cuda-kernels.ts reads. Fails on any register spill.
//   node scripts/build-ring-kernels.mjs [--if-nvcc] [--force]
// --if-nvcc: when nvcc is not installed, say so in one line and exit 0 (npm install on a CPU-only machine).
// Without --force, an up-to-date build (outputs newer than the source and this script) is left alone.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = join(ROOT, 'kernels', 'ring', 'ring_ops.cu');
const OUT = join(ROOT, 'kernels', 'build');
const FILE = 'ring_ops.fatbin';
// The block size and the kernel names come from the source itself, so they cannot drift from it; the runtime's
// typed list (src/ring/cuda-kernels.ts) is checked against this manifest when it loads.
const SOURCE_TEXT = readFileSync(SOURCE, 'utf8');
const THREADS = Number(/#define RING_THREADS (\d+)/.exec(SOURCE_TEXT)?.[1]);
const SYMBOLS = [...SOURCE_TEXT.matchAll(/extern "C" __global__ void __launch_bounds__\(RING_THREADS\) (\w+)\(/g)].map((m) => m[1]);
if (!(THREADS > 0) || SYMBOLS.length === 0) {
  console.error(`build-ring-kernels: found no RING_THREADS or no extern "C" kernels in ${SOURCE}`);
  process.exit(1);
}

const MANIFEST = join(OUT, 'ring-manifest.json');

function upToDate() {
  const outputs = [join(OUT, FILE), MANIFEST];
  if (!outputs.every(existsSync)) return false;
  const built = Math.min(...outputs.map((p) => statSync(p).mtimeMs));
  return [SOURCE, fileURLToPath(import.meta.url)].every((p) => statSync(p).mtimeMs < built);
}

function fail(message) {
  console.error(`build-ring-kernels: ${message}`);
  process.exit(1);
}

if (!process.argv.includes('--force') && upToDate()) {
  console.log(`build-ring-kernels: ${FILE} is up to date`);
  process.exit(0);
}

const probe = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  if (process.argv.includes('--if-nvcc')) {
    console.log('build-ring-kernels: nvcc not found; ring kernels not built (CPU virtual devices work without them).');
    process.exit(0);
  }
  fail('nvcc not found on PATH; install the CUDA toolkit or pass --if-nvcc to skip');
}
const version = /release ([\d.]+)/.exec(probe.stdout)?.[1] ?? 'unknown';

mkdirSync(OUT, { recursive: true });
const built = spawnSync(
  'nvcc',
  [
    '-std=c++17', '-O3', '--fatbin',
    '-gencode', 'arch=compute_80,code=sm_80',
    // Hopper runs sm_80 machine code only through the PTX, compiled at first load (about 0.3 s per process).
    '-gencode', 'arch=compute_90,code=sm_90',
    '-gencode', 'arch=compute_80,code=compute_80',
    '-Xptxas', '-v',
    '-o', join(OUT, FILE), SOURCE,
  ],
  { encoding: 'utf8' },
);
const report = `${built.stdout}${built.stderr}`;
if (built.status !== 0) fail(`nvcc failed:\n${report}`);

// ptxas prints "Compiling entry function 'NAME'", then "S bytes stack frame, A bytes spill stores, B bytes spill loads".
const seen = new Map();
let current;
for (const line of report.split('\n')) {
  const entry = /Compiling entry function '([^']+)'/.exec(line);
  if (entry) current = entry[1];
  const spill = /(\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
  if (spill && current) seen.set(current, Number(spill[1]) + Number(spill[2]));
}
const missing = SYMBOLS.filter((s) => !seen.has(s));
if (missing.length > 0) fail(`ptxas reported nothing for ${missing.join(', ')}`);
const spilling = SYMBOLS.filter((s) => seen.get(s) > 0);
if (spilling.length > 0) fail(`refusing the build: ${spilling.join(', ')} spill registers`);

writeFileSync(
  MANIFEST,
  `${JSON.stringify({ arch: ['sm_80', 'sm_90'], nvcc: version, file: FILE, threads: THREADS, symbols: SYMBOLS }, null, 1)}\n`,
);
console.log(`build-ring-kernels: nvcc ${version}, ${SYMBOLS.length} kernels in ${FILE}, no spills`);
