// Both kernel families on a real GPU. On any card: explain() names exactly the kernels FLASH_ATTN_LOG
// reports. On compute capability 9.0: the default forward runs the sm_90a kernel where it applies (d = 128,
// d = 96 through the 128 kernel, float32 out for ring attention) and falls back where it does not (d = 59);
// o and lse of both paths pass testing.md's tolerance rule against float64 and agree with each other within it.
// Where the build has the Hopper backward, its dq, dk, dv are checked the same way against the sm_80 backward's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttentionProblem } from '../../src/backend.js';
import { cudaBackward, cudaForward } from '../../src/backend/cuda/attention.js';
import { kernelManifest } from '../../src/backend/cuda/table.js';
import { type Dtype, decodeArray } from '../../src/dtype.js';
import { type Tensor, explain, flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';
import { withEnv } from '../support/env.js';
import { type Shape, maskOf } from '../support/problem.js';
import { type Mask, referenceBackward, referenceForward } from '../support/reference.js';
import { capturingStderr } from '../support/stderr.js';
import { maxError } from '../support/tolerance.js';
import { naiveLowPrecision, toleranceBound, toleranceFailures } from './accuracy.js';
import { disposeAll, gpu, skipReason } from './gpu.js';

function findHopperSkip(): string | false {
  if (skipReason) return skipReason;
  const [major, minor] = gpu().computeCapability;
  return major === 9 && minor === 0 ? false : `cuda:0 has compute capability ${major}.${minor}; the sm_90a forward runs only on 9.0`;
}
const hopperSkip = findHopperSkip();
if (hopperSkip && !skipReason) console.log(`# Hopper forward tests skipped: ${hopperSkip}`);

function findHopperBackwardSkip(): string | false {
  if (hopperSkip) return hopperSkip;
  try {
    return kernelManifest().kernels.some((k) => k.arch === 'sm_90a' && k.phase === 'bwd') ? false : 'the built kernels have no sm_90a backward';
  } catch (error) {
    return `no kernels: ${error instanceof Error ? error.message : String(error)}`;
  }
}
const hopperBackwardSkip = findHopperBackwardSkip();
if (hopperBackwardSkip && !hopperSkip) console.log(`# Hopper backward tests skipped: ${hopperBackwardSkip}`);

/** Runs `body` with FLASH_ATTN_KERNELS set to `family` (undefined: unset), restoring it after. */
function withKernels<T>(family: 'sm80' | undefined, body: () => T): T {
  return withEnv({ FLASH_ATTN_KERNELS: family }, body);
}

/** `body`'s result and the `<phase> <kernel> (<arch>)` of each launch FLASH_ATTN_LOG=1 reported meanwhile. */
function logged<T>(body: () => T): { result: T; launches: string[] } {
  const { result, text } = withEnv({ FLASH_ATTN_LOG: '1' }, () => capturingStderr(body));
  const launches = text
    .split('\n')
    .map((line) => /^flash-attn: cuda:0 (\w+) (\S+ \(\S+\)) grid /.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]} ${m[2]}`);
  return { result, launches };
}

interface Case extends Shape {
  dtype: 'float16' | 'bfloat16';
  isCausal: boolean;
  windowSize: [number, number];
}

function problemOf(c: Case, outDtype: Dtype): AttentionProblem {
  const { n, lq, lk, h, hk, d } = c;
  return { ...maskOf({ n, lq, lk, h, hk, d }, c), dtype: c.dtype, device: 'cuda:0', outDtype, deterministic: false };
}

/**
 * The forward of `c` on each family: the kernel each ran (from the log), o and lse; checked against the
 * float64 reference with the rule (F = 2), and against each other within the same bound.
 */
async function compareFamilies(c: Case, expectedDefault: string, outDtype: Dtype = c.dtype): Promise<void> {
  const seed = 31 * c.d + c.lq;
  const q = randn([c.n, c.lq, c.h, c.d], { seed, dtype: c.dtype, device: 'cuda' });
  const k = randn([c.n, c.lk, c.hk, c.d], { seed: seed + 1, dtype: c.dtype, device: 'cuda' });
  const v = randn([c.n, c.lk, c.hk, c.d], { seed: seed + 2, dtype: c.dtype, device: 'cuda' });
  const p = problemOf(c, outDtype);
  // cudaForward rather than flashMhaFwd: it takes the problem as is, so outDtype can be float32 as in the ring.
  const run = async (family: 'sm80' | undefined) => {
    const { result, launches } = withKernels(family, () => logged(() => cudaForward(p, q.storage(), k.storage(), v.storage())));
    const o = decodeArray((await result.out.read()) as Float32Array | Uint16Array, outDtype);
    const lse = (await result.lse.read()) as Float32Array;
    result.out.dispose();
    result.lse.dispose();
    return { o, lse, kernel: launches.join(', ') };
  };
  const results = { auto: await run(undefined), sm80: await run('sm80') };
  assert.equal(results.auto.kernel, `fwd ${expectedDefault}`, 'the default forward');
  assert.match(results.sm80.kernel, /^fwd flash_fwd_\w+ \(sm_80\)$/, 'FLASH_ATTN_KERNELS=sm80');

  const [qf, kf, vf] = [await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array()];
  const mask: Mask = { ...p, softmaxScale: Math.fround(p.softmaxScale) };
  const exact = referenceForward(mask, qf, kf, vf);
  const naive = naiveLowPrecision(mask, c.dtype, qf, kf, vf);
  const repro = `seed ${seed}, ${JSON.stringify(c)}, out ${outDtype}`;
  for (const family of ['auto', 'sm80'] as const) {
    const failures = toleranceFailures(results[family], exact, naive, c.dtype, { forward: 2, backward: 3 });
    assert.deepEqual(failures, [], `${results[family].kernel}: ${repro}: ${failures.join('; ')}`);
  }
  for (const key of ['o', 'lse'] as const) {
    const { bound } = toleranceBound(key, exact[key], naive[key], c.dtype, 2);
    const apart = maxError(results.auto[key], results.sm80[key]);
    assert.ok(apart <= bound, `${key}: the two forwards differ by ${apart.toExponential(3)} > the rule's bound ${bound.toExponential(3)} (${repro})`);
  }
  disposeAll(q, k, v);
}

/**
 * The backward of `c` on each family from one forward's o and lse: the bwd kernel each ran (from the log), dq,
 * dk, dv; checked against the float64 reference with the rule (F = 3), and against each other within the same bound.
 */
async function compareBackwardFamilies(c: Case, expectedDefault: string): Promise<void> {
  const seed = 37 * c.d + c.lk;
  const q = randn([c.n, c.lq, c.h, c.d], { seed, dtype: c.dtype, device: 'cuda' });
  const k = randn([c.n, c.lk, c.hk, c.d], { seed: seed + 1, dtype: c.dtype, device: 'cuda' });
  const v = randn([c.n, c.lk, c.hk, c.d], { seed: seed + 2, dtype: c.dtype, device: 'cuda' });
  const dout = randn([c.n, c.lq, c.h, c.d], { seed: seed + 3, dtype: c.dtype, device: 'cuda' });
  const p = problemOf(c, c.dtype);
  const f = withKernels(undefined, () => cudaForward(p, q.storage(), k.storage(), v.storage()));
  const run = async (family: 'sm80' | undefined) => {
    const { result, launches } = withKernels(family, () =>
      logged(() => cudaBackward(p, dout.storage(), q.storage(), k.storage(), v.storage(), f.out, f.lse)),
    );
    const read = async (s: typeof result.dq) => decodeArray((await s.read()) as Uint16Array, c.dtype);
    const g = { dq: await read(result.dq), dk: await read(result.dk), dv: await read(result.dv) };
    for (const s of [result.dq, result.dk, result.dv]) s.dispose();
    return { ...g, kernel: launches.filter((l) => l.startsWith('bwd ')).join(', ') };
  };
  const results = { auto: await run(undefined), sm80: await run('sm80') };
  f.out.dispose();
  f.lse.dispose();
  assert.equal(results.auto.kernel, `bwd ${expectedDefault}`, 'the default backward');
  assert.match(results.sm80.kernel, /^bwd flash_bwd_\w+ \(sm_80\)$/, 'FLASH_ATTN_KERNELS=sm80');

  const [qf, kf, vf, df] = [await q.toFloat32Array(), await k.toFloat32Array(), await v.toFloat32Array(), await dout.toFloat32Array()];
  const mask: Mask = { ...p, softmaxScale: Math.fround(p.softmaxScale) };
  const exact = referenceBackward(mask, qf, kf, vf, df);
  const naive = naiveLowPrecision(mask, c.dtype, qf, kf, vf, df);
  const repro = `seed ${seed}, ${JSON.stringify(c)}`;
  for (const family of ['auto', 'sm80'] as const) {
    const failures = toleranceFailures(results[family], exact, naive, c.dtype, { forward: 2, backward: 3 });
    assert.deepEqual(failures, [], `${results[family].kernel}: ${repro}: ${failures.join('; ')}`);
  }
  for (const key of ['dq', 'dk', 'dv'] as const) {
    const { bound } = toleranceBound(key, exact[key], naive[key], c.dtype, 3);
    const apart = maxError(results.auto[key], results.sm80[key]);
    assert.ok(apart <= bound, `${key}: the two backwards differ by ${apart.toExponential(3)} > the rule's bound ${bound.toExponential(3)} (${repro})`);
  }
  disposeAll(q, k, v, dout);
}

const BASE: Case = { n: 1, lq: 300, lk: 517, h: 4, hk: 2, d: 128, dtype: 'bfloat16', isCausal: false, windowSize: [-1, -1] };

test('explain names exactly the kernels the forward and backward launch, for both families', { skip: skipReason }, () => {
  const q = randn([2, 300, 4, 128], { seed: 5, dtype: 'bfloat16', device: 'cuda' });
  const k = randn([2, 517, 2, 128], { seed: 6, dtype: 'bfloat16', device: 'cuda' });
  for (const family of [undefined, 'sm80'] as const) {
    withKernels(family, () => {
      const plan = explain(q, k, k, { isCausal: true });
      assert.equal(plan.backend, 'cuda');
      assert.equal(plan.device, 'cuda:0');
      const { result, launches } = logged(() => {
        const { out, lse } = flashMhaFwd(q, k, k, { isCausal: true });
        const g = flashMhaBwd(out, q, k, k, out, lse, { isCausal: true });
        return [out, lse, g.dq, g.dk, g.dv] as Tensor[];
      });
      // bwd_pre_side in bwd_pre's place beside a Hopper backward that waits for its rows (d = 128 on 9.0).
      const pre = plan.backward[0].startsWith('flash_bwd_pre_side_') ? 'bwd_pre_side' : 'bwd_pre';
      assert.deepEqual(launches, [...plan.forward.map((f) => `fwd ${f}`), ...[pre, 'bwd', 'bwd_dq'].map((phase, i) => `${phase} ${plan.backward[i]}`)], `FLASH_ATTN_KERNELS=${family ?? ''}`);
      assert.ok([plan.backward[0], plan.backward[2]].every((b) => b.endsWith('(sm_80)')), 'bwd_pre (or bwd_pre_side) and bwd_dq are sm_80-family kernels on either path');
      if (family === 'sm80') {
        assert.ok(plan.backward.every((b) => b.endsWith('(sm_80)')), 'FLASH_ATTN_KERNELS=sm80: the sm_80 backward');
        assert.deepEqual([plan.forward, plan.reason], [['flash_fwd_bf16_d128 (sm_80)'], 'the sm_80 forward and backward: FLASH_ATTN_KERNELS=sm80']);
      }
      disposeAll(...result);
    });
  }
  disposeAll(q, k);
});

test('cc 9.0, bf16, d = 128: explain and the log name the sm_90a forward; o, lse within the rule and agreeing with sm_80', { skip: hopperSkip }, async () => {
  const q = randn([2, 300, 4, 128], { dtype: 'bfloat16', device: 'cuda' });
  // explain under the default family: gpu-verify.sh also runs this file with FLASH_ATTN_KERNELS=sm80 set.
  assert.deepEqual(withKernels(undefined, () => explain(q, q, q)).forward, ['flash_fwd90_bf16_d128 (sm_90a)']);
  disposeAll(q);
  await compareFamilies(BASE, 'flash_fwd90_bf16_d128 (sm_90a)');
  await compareFamilies({ ...BASE, isCausal: true }, 'flash_fwd90_bf16_d128 (sm_90a)');
  await compareFamilies({ ...BASE, lq: 517, lk: 300, h: 3, hk: 1, isCausal: true, windowSize: [17, -1] }, 'flash_fwd90_bf16_d128 (sm_90a)');
});

test('cc 9.0: d = 96 runs the d = 128 Hopper kernel (zero-filled columns), float16 and bfloat16', { skip: hopperSkip }, async () => {
  await compareFamilies({ ...BASE, d: 96 }, 'flash_fwd90_bf16_d128 (sm_90a)');
  await compareFamilies({ ...BASE, d: 96, dtype: 'float16', isCausal: true }, 'flash_fwd90_f16_d128 (sm_90a)');
});

test('cc 9.0: float32 out (ring attention) runs the Hopper kernel too', { skip: hopperSkip }, async () => {
  await compareFamilies({ ...BASE, n: 1, d: 64, isCausal: true }, 'flash_fwd90_bf16_d64 (sm_90a)', 'float32');
});

test('cc 9.0: d = 59 falls back to the sm_80 forward (d % 8 != 0), and explain says why', { skip: hopperSkip }, async () => {
  const q = randn([1, 40, 2, 59], { dtype: 'bfloat16', device: 'cuda' });
  const plan = withKernels(undefined, () => explain(q, q, q));
  assert.deepEqual([plan.forward, plan.reason], [['flash_fwd_bf16_d64 (sm_80)'], 'the sm_80 forward and backward: d = 59 is not a multiple of 8']);
  disposeAll(q);
  await compareFamilies({ ...BASE, d: 59 }, 'flash_fwd_bf16_d64 (sm_80)');
});

test('cc 9.0: the backward runs the sm_90a bwd (d = 64, 96 through 128, 128); dq, dk, dv within the rule and agreeing with sm_80', { skip: hopperBackwardSkip }, async () => {
  const q = randn([2, 300, 4, 128], { dtype: 'bfloat16', device: 'cuda' });
  assert.equal(withKernels(undefined, () => explain(q, q, q)).backward[1], 'flash_bwd90_bf16_d128 (sm_90a)');
  disposeAll(q);
  await compareBackwardFamilies(BASE, 'flash_bwd90_bf16_d128 (sm_90a)');
  await compareBackwardFamilies({ ...BASE, isCausal: true }, 'flash_bwd90_bf16_d128 (sm_90a)');
  await compareBackwardFamilies({ ...BASE, lq: 517, lk: 300, h: 3, hk: 1, isCausal: true, windowSize: [17, -1] }, 'flash_bwd90_bf16_d128 (sm_90a)');
  await compareBackwardFamilies({ ...BASE, d: 96, dtype: 'float16' }, 'flash_bwd90_f16_d128 (sm_90a)');
  await compareBackwardFamilies({ ...BASE, d: 64, dtype: 'float16', isCausal: true }, 'flash_bwd90_f16_d64 (sm_90a)');
});

test('cc 9.0: d = 256 (and 192 through it) runs the wide sm_90a bwd; dq, dk, dv within the rule and agreeing with sm_80', { skip: hopperBackwardSkip }, async () => {
  await compareBackwardFamilies({ ...BASE, d: 256 }, 'flash_bwd90_bf16_d256 (sm_90a)');
  await compareBackwardFamilies({ ...BASE, d: 256, dtype: 'float16', isCausal: true }, 'flash_bwd90_f16_d256 (sm_90a)');
  await compareBackwardFamilies({ ...BASE, d: 192, lq: 517, lk: 300, h: 3, hk: 1, isCausal: true, windowSize: [17, -1] }, 'flash_bwd90_bf16_d256 (sm_90a)');
});
