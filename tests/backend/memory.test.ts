/**
 * The CPU backend never materializes an lq x lk matrix: a forward+backward pass at l = 4096 is checked
 * two ways. (1) Every typed array allocated during the pass is recorded (the typed-array constructors
 * are wrapped for its duration) and the largest must be far below one l x l float32 matrix. (2) The
 * process's peak resident memory (this file runs in its own process) must grow by much less than that.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flashMhaBwd, flashMhaFwd } from '../../src/index.js';
import { testDevices } from '../support/devices.js';
import { inputSeeds, randomValues, upload } from '../support/inputs.js';

const L = 4096;
const D = 8;
const SCORE_MATRIX_BYTES = L * L * 4;

type TypedArrayClass = Float64ArrayConstructor | Float32ArrayConstructor | Uint16ArrayConstructor | Uint32ArrayConstructor | Uint8ArrayConstructor | Int32ArrayConstructor;
const TRACKED = ['Float64Array', 'Float32Array', 'Uint16Array', 'Uint32Array', 'Uint8Array', 'Int32Array'] as const;

/** Runs `work` with every typed-array construction recorded; returns the largest byteLength seen. */
function largestTypedArrayDuring(work: () => void): number {
  const originals = new Map<string, TypedArrayClass>();
  let largest = 0;
  const globals = globalThis as unknown as Record<string, TypedArrayClass>;
  for (const name of TRACKED) {
    const Original = globals[name];
    originals.set(name, Original);
    const Tracked = class extends (Original as Float64ArrayConstructor) {
      constructor(...args: unknown[]) {
        super(...(args as [number]));
        largest = Math.max(largest, this.byteLength);
      }
    };
    globals[name] = Tracked as unknown as TypedArrayClass;
  }
  try {
    work();
  } finally {
    for (const [name, Original] of originals) globals[name] = Original;
  }
  return largest;
}

const cpuDevices = testDevices().filter((d) => d.startsWith('cpu'));

describe('memory of the CPU backend', () => {
  it(`forward + backward at l = ${L}, h = 1, d = ${D} allocates no l x l matrix`, { skip: cpuDevices.length === 0 ? 'no CPU device among FLASH_ATTN_TEST_DEVICES' : false }, async () => {
    const s = inputSeeds(99);
    const shape = [1, L, 1, D];
    using q = upload(randomValues(shape, 'float32', s.q), cpuDevices[0]);
    using k = upload(randomValues(shape, 'float32', s.k), cpuDevices[0]);
    using v = upload(randomValues(shape, 'float32', s.v), cpuDevices[0]);
    using dout = upload(randomValues(shape, 'float32', s.dout), cpuDevices[0]);
    const rssBefore = process.resourceUsage().maxRSS * 1024;
    let grads: ReturnType<typeof flashMhaBwd> | undefined;
    const largest = largestTypedArrayDuring(() => {
      const { out, lse } = flashMhaFwd(q, k, v);
      grads = flashMhaBwd(dout, q, k, v, out, lse);
      out.dispose();
      lse.dispose();
    });
    const rssGrowth = process.resourceUsage().maxRSS * 1024 - rssBefore;
    assert.ok(grads && (await grads.dq.toFloat32Array()).every(Number.isFinite));
    const mib = (x: number) => `${(x / 2 ** 20).toFixed(2)} MiB`;
    // O(l * d) buffers (float64 gradient accumulators) are expected; l x l is 512x larger here.
    assert.ok(largest <= SCORE_MATRIX_BYTES / 32, `largest typed array ${mib(largest)}, an l x l float32 matrix is ${mib(SCORE_MATRIX_BYTES)}`);
    assert.ok(rssGrowth < SCORE_MATRIX_BYTES / 4, `peak RSS grew by ${mib(rssGrowth)}, an l x l float32 matrix is ${mib(SCORE_MATRIX_BYTES)}`);
    console.log(`memory: largest typed array ${mib(largest)}, peak RSS growth ${mib(rssGrowth)}, l x l float32 ${mib(SCORE_MATRIX_BYTES)}`);
    for (const t of [grads.dq, grads.dk, grads.dv]) t.dispose();
  });
});
