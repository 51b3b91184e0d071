// Ring attention's backward with deterministic: true on W virtual ranks of cuda:0 is bitwise repeatable: each
// pair's backward is, and the ring adds the pairs' gradients in an order the schedule fixes (see
// src/ring/backward.ts). Skipped without a CUDA device and built kernels, or, with a printed reason, when the
// kernels have no bwd_dq_det.
import { test } from 'node:test';
import { deterministicKernelsMissing } from '../cuda/gpu.js';
import { assertRingBitsRepeat, oneGpu, skipReason } from './cuda-support.js';

const skip = skipReason || deterministicKernelsMissing();
if (skip && !skipReason) console.log(`# deterministic ring test skipped: ${skip}`);

const RUNS = 5;

test(`ring backward with deterministic: true on 4 virtual ranks of cuda:0: ${RUNS} runs, identical bits`, { skip }, async () => {
  await assertRingBitsRepeat(oneGpu(4), 512, 8, 2, 64, 30, RUNS);
});
