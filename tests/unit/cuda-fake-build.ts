/**
 * A fake kernel build for the fake driver: a manifest and an empty fatbin in a temporary folder, every
 * kernel emulated with the float64 reference (cuda-fake-kernels.ts). sm_80 entries for float16 and
 * bfloat16, head dims 64 and 128, and two tilings of 128: the larger only fits cards with more shared memory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeKernel } from './cuda-fake-driver.js';
import { type Phase, emulated } from './cuda-fake-kernels.js';

/** bwd_pre_side runs only beside a Hopper backward, which this build has none of. */
type Sm80OnlyPhase = Exclude<Phase, 'bwd_pre_side'>;

export const LAUNCH_SHAPES: Record<Sm80OnlyPhase, { tileRows: number; gridRows: 'lq' | 'lk'; gridHeads: 'h' | 'hk'; threads: number }> = {
  fwd: { tileRows: 128, gridRows: 'lq', gridHeads: 'h', threads: 128 },
  bwd_pre: { tileRows: 16, gridRows: 'lq', gridHeads: 'h', threads: 128 },
  bwd: { tileRows: 64, gridRows: 'lk', gridHeads: 'hk', threads: 256 },
  bwd_dq: { tileRows: 16, gridRows: 'lq', gridHeads: 'h', threads: 128 },
  // One block per query block, like the real one; a tile unlike bwd_dq's, so a grid test tells them apart.
  bwd_dq_det: { tileRows: 64, gridRows: 'lq', gridHeads: 'h', threads: 128 },
};

export const ALL_PHASES = Object.keys(LAUNCH_SHAPES) as Sm80OnlyPhase[];

interface Variant {
  phase: Sm80OnlyPhase;
  dtype: 'float16' | 'bfloat16';
  headDim: number;
  smemBytes: number;
}

export const symbolOf = (v: Variant) => `flash_${v.phase}_${v.dtype}_d${v.headDim}_s${v.smemBytes}`;

export interface FakeBuild {
  /** The folder to point FLASH_ATTN_KERNEL_DIR at. */
  directory: string;
  /** The emulation of every kernel in the manifest, by symbol, for the FakeDriver. */
  kernels: Record<string, FakeKernel>;
  dispose(): void;
}

/**
 * Writes a build with the kernels of `phases` (a build from before a phase existed leaves it out); accumOptional
 * false: a build from before bwd_pre could be given no dq_accum.
 */
export function writeFakeBuild(phases: readonly Sm80OnlyPhase[] = ALL_PHASES, { accumOptional = true } = {}): FakeBuild {
  const variants: Variant[] = [];
  for (const dtype of ['float16', 'bfloat16'] as const) {
    for (const phase of phases) {
      variants.push({ phase, dtype, headDim: 64, smemBytes: 40 * 1024 });
      variants.push({ phase, dtype, headDim: 128, smemBytes: 96 * 1024 });
      variants.push({ phase, dtype, headDim: 128, smemBytes: 160 * 1024 });
    }
  }
  const directory = mkdtempSync(join(tmpdir(), 'flash-fake-kernels-'));
  writeFileSync(join(directory, 'fake.fatbin'), 'not a real fatbin');
  writeFileSync(
    join(directory, 'manifest.json'),
    JSON.stringify({
      kernels: variants.map((v) => ({
        file: 'fake.fatbin',
        symbol: symbolOf(v),
        ...v,
        ...LAUNCH_SHAPES[v.phase],
        waitsForPreviousGrid: true,
        ...(accumOptional && v.phase === 'bwd_pre' ? { accumOptional: true } : {}),
      })),
    }),
  );
  const kernels: Record<string, FakeKernel> = {};
  for (const v of variants) kernels[symbolOf(v)] = emulated(v.phase, v.dtype);
  return { directory, kernels, dispose: () => rmSync(directory, { recursive: true, force: true }) };
}
