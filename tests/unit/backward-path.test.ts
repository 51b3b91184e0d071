// Which backward main kernel runs (no GPU needed): the rule that picks the Hopper backward only where every
// condition holds, with each condition flipped one at a time; the manifest's queryTileRows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type BackwardPathInputs, chooseBackward } from '../../src/backend/cuda/backward-path.js';
import { PACE_MAX_KEYS, everyRowHasKeys, pacedSideBlocks, sidePreEntry } from '../../src/backend/cuda/backward.js';
import { type KernelEntry, parseManifest, selectKernel } from '../../src/backend/cuda/table.js';
import { attentionTensorMap } from '../../src/backend/cuda/tma.js';
import { BackendUnavailableError } from '../../src/index.js';

type Arch = KernelEntry['arch'];
type Dtype = KernelEntry['dtype'];

const entry = (arch: Arch, phase: 'fwd' | 'bwd', dtype: Dtype, headDim: number): KernelEntry => {
  const hopper = arch === 'sm_90a';
  const base = {
    file: `${arch}_${dtype}_${headDim}.fatbin`,
    symbol: `flash_${phase}${hopper ? '90' : ''}_${dtype}_d${headDim}`,
    arch,
    phase,
    dtype,
    headDim,
    threads: hopper ? 384 : 256,
    smemBytes: hopper ? 180224 + headDim : 81920,
    tileRows: hopper ? 128 : 64,
    gridRows: phase === 'fwd' ? 'lq' : 'lk',
    gridHeads: phase === 'fwd' ? 'h' : 'hk',
  } as const;
  if (!hopper) return base;
  // As the build writes them: the backward's d = 64 steps over 128 query rows, its d = 128 and 256 over 64; its
  // d = 256 blocks own 64 keys, the others 128.
  if (phase === 'fwd') return { ...base, keyTileRows: 128 };
  const keys = headDim === 256 ? 64 : 128;
  return { ...base, tileRows: keys, keyTileRows: keys, queryTileRows: headDim === 64 ? 128 : 64, dqBoxRows: 16 };
};

const KERNELS: KernelEntry[] = [
  ...[32, 64, 128, 192, 256].flatMap((d) => (['float16', 'bfloat16'] as const).flatMap((t) => [entry('sm_80', 'fwd', t, d), entry('sm_80', 'bwd', t, d)])),
  // The Hopper forward exists for 192 too; the Hopper backward for 64, 128 and 256.
  ...[64, 128, 192, 256].flatMap((d) => (['float16', 'bfloat16'] as const).map((t) => entry('sm_90a', 'fwd', t, d))),
  ...[64, 128, 256].flatMap((d) => (['float16', 'bfloat16'] as const).map((t) => entry('sm_90a', 'bwd', t, d))),
];
const onlyBwd90 = (change: Partial<KernelEntry>) => KERNELS.map((k) => (k.arch === 'sm_90a' && k.phase === 'bwd' ? { ...k, ...change } : k));

/** A call every condition allows: H100, bf16, d = 128, GQA, lq != lk, pool-aligned addresses. */
const BASE: BackwardPathInputs = {
  family: 'auto',
  computeCapability: [9, 0],
  sharedMemoryLimit: 227 * 1024,
  kernels: KERNELS,
  problem: { n: 2, lq: 1000, lk: 777, h: 16, hk: 4, d: 128, dtype: 'bfloat16' },
  pointers: {
    q: 0x7f00_0000_0000n,
    k: 0x7f00_0010_0000n,
    v: 0x7f00_0020_0000n,
    dout: 0x7f00_0030_0000n,
    dq: 0x7f00_0040_0000n,
    dk: 0x7f00_0050_0000n,
    dv: 0x7f00_0060_0000n,
    dq_accum: 0x7f00_0070_0000n,
  },
};

const withProblem = (change: Partial<BackwardPathInputs['problem']>): BackwardPathInputs => ({ ...BASE, problem: { ...BASE.problem, ...change } });
const withPointers = (change: Partial<BackwardPathInputs['pointers']>): BackwardPathInputs => ({ ...BASE, pointers: { ...BASE.pointers, ...change } });

test('the Hopper backward where every condition holds: its entry, q and dout boxed by queryTileRows, k and v by keyTileRows, dq_accum as float32 by 16 rows', () => {
  const path = chooseBackward(BASE);
  assert.equal(path.arch, 'sm_90a');
  if (path.arch !== 'sm_90a') return;
  assert.equal(path.entry.symbol, 'flash_bwd90_bfloat16_d128');
  assert.deepEqual(Object.keys(path.maps), ['q', 'k', 'v', 'dout', 'dq_accum']);
  assert.deepEqual(path.maps.q, attentionTensorMap({ n: 2, rows: 1000, heads: 16, d: 128 }, 64));
  assert.deepEqual(path.maps.dout, path.maps.q);
  assert.deepEqual(path.maps.k, attentionTensorMap({ n: 2, rows: 777, heads: 4, d: 128 }, 128));
  assert.deepEqual(path.maps.v, path.maps.k);
  assert.deepEqual(path.maps.dq_accum, attentionTensorMap({ n: 2, rows: 1000, heads: 16, d: 128 }, 16, 4));
  assert.deepEqual([path.maps.dq_accum.boxDim, path.maps.dq_accum.globalStrides], [[32, 16, 1, 1], [16 * 128 * 4, 128 * 4, 1000 * 16 * 128 * 4]]);
});

test('the smallest compiled Hopper backward >= d serves d (8 -> 64, 96 -> 128, 136 -> 256); none above 256; unknown dout, dq, dk, dv are taken as aligned', () => {
  for (const [d, dtype, expected] of [
    [8, 'float16', 'flash_bwd90_float16_d64'],
    [64, 'bfloat16', 'flash_bwd90_bfloat16_d64'],
    [96, 'float16', 'flash_bwd90_float16_d128'],
    [128, 'float16', 'flash_bwd90_float16_d128'],
    [136, 'bfloat16', 'flash_bwd90_bfloat16_d256'],
    [256, 'float16', 'flash_bwd90_float16_d256'],
    [264, 'bfloat16', 'no sm_90a backward is compiled for bfloat16, d = 264'],
  ] as const) {
    const path = chooseBackward(withProblem({ d, dtype }));
    assert.equal(path.arch === 'sm_90a' ? path.entry.symbol : path.reason, expected, `d = ${d}`);
  }
  const d64 = chooseBackward(withProblem({ d: 64 }));
  assert.equal(d64.arch === 'sm_90a' && d64.maps.q.boxDim[1], 128, 'd = 64: 128 query rows per step');
  const d256 = chooseBackward(withProblem({ d: 256 }));
  assert.equal(d256.arch === 'sm_90a' && d256.maps.k.boxDim[1], 64, 'd = 256: blocks of 64 keys');
  assert.equal(chooseBackward({ ...BASE, pointers: { q: BASE.pointers.q, k: BASE.pointers.k, v: BASE.pointers.v } }).arch, 'sm_90a');
});

test('each condition flipped alone falls back to the sm_80 backward, saying why', () => {
  const cases: [string, BackwardPathInputs, RegExp][] = [
    ['FLASH_ATTN_KERNELS=sm80', { ...BASE, family: 'sm80' }, /^FLASH_ATTN_KERNELS=sm80$/],
    ['an A100 (8.0)', { ...BASE, computeCapability: [8, 0] }, /^compute capability 8\.0 is not 9\.0$/],
    ['an RTX 4090 (8.9)', { ...BASE, computeCapability: [8, 9] }, /^compute capability 8\.9 is not 9\.0$/],
    ['a future card (10.0)', { ...BASE, computeCapability: [10, 0] }, /^compute capability 10\.0 is not 9\.0$/],
    ['float32', withProblem({ dtype: 'float32' }), /^dtype float32 has no Hopper kernel$/],
    ['no sm_90a backward in the manifest (a build with the Hopper forward only)', { ...BASE, kernels: KERNELS.filter((k) => !(k.arch === 'sm_90a' && k.phase === 'bwd')) }, /^no sm_90a backward is compiled for bfloat16, d = 128$/],
    ['no sm_90a backward for this dtype', { ...BASE, kernels: KERNELS.filter((k) => !(k.arch === 'sm_90a' && k.phase === 'bwd' && k.dtype === 'bfloat16')) }, /^no sm_90a backward is compiled for bfloat16, d = 128$/],
    ['only smaller Hopper head dims compiled', { ...BASE, kernels: KERNELS.filter((k) => !(k.arch === 'sm_90a' && k.phase === 'bwd' && k.headDim >= 128)) }, /^no sm_90a backward is compiled for bfloat16, d = 128$/],
    ['d = 59', withProblem({ d: 59 }), /^d = 59 is not a multiple of 8$/],
    ['d = 100', withProblem({ d: 100 }), /^d = 100 is not a multiple of 8$/],
    ['q unaligned', withPointers({ q: BASE.pointers.q + 8n }), /^q is not 16-byte aligned$/],
    ['k unaligned', withPointers({ k: BASE.pointers.k + 2n }), /^k is not 16-byte aligned$/],
    ['v unaligned', withPointers({ v: BASE.pointers.v + 4n }), /^v is not 16-byte aligned$/],
    ['dout unaligned', withPointers({ dout: BASE.pointers.dout! + 8n }), /^dout is not 16-byte aligned$/],
    ['dq unaligned', withPointers({ dq: BASE.pointers.dq! + 8n }), /^dq is not 16-byte aligned$/],
    ['dk unaligned', withPointers({ dk: BASE.pointers.dk! + 8n }), /^dk is not 16-byte aligned$/],
    ['dv unaligned', withPointers({ dv: BASE.pointers.dv! + 4n }), /^dv is not 16-byte aligned$/],
    ['dq_accum unaligned', withPointers({ dq_accum: BASE.pointers.dq_accum! + 8n }), /^dq_accum is not 16-byte aligned$/],
    ['lq = 0', withProblem({ lq: 0 }), /^lq or lk is 0$/],
    ['lk = 0', withProblem({ lk: 0 }), /^lq or lk is 0$/],
    ['shared memory over the limit', { ...BASE, sharedMemoryLimit: 180224 + 127 }, /^flash_bwd90_bfloat16_d128 needs 180352 bytes of shared memory per block, and this device allows 180351$/],
    ['a manifest without queryTileRows', { ...BASE, kernels: onlyBwd90({ queryTileRows: undefined }) }, /^the manifest gives flash_bwd90_bfloat16_d128 no queryTileRows$/],
    ['a manifest without keyTileRows', { ...BASE, kernels: onlyBwd90({ keyTileRows: undefined }) }, /^the manifest gives flash_bwd90_bfloat16_d128 no keyTileRows$/],
    ['a manifest without dqBoxRows (a build from before the dQ reductions)', { ...BASE, kernels: onlyBwd90({ dqBoxRows: undefined }) }, /^the manifest gives flash_bwd90_bfloat16_d128 no dqBoxRows$/],
    ['a q/dout box over 256 rows', { ...BASE, kernels: onlyBwd90({ queryTileRows: 512 }) }, /^the q tensor map: boxDim\[1\] = 512 is outside 1\.\.256$/],
    ['a k/v box over 256 rows', { ...BASE, kernels: onlyBwd90({ keyTileRows: 300 }) }, /^the k tensor map: boxDim\[1\] = 300 is outside 1\.\.256$/],
    ['a q stride of 2^40 bytes or more', withProblem({ lq: 2 ** 31 - 1, h: 256, hk: 256 }), /^the q tensor map: globalStrides\[2\] = \d+ bytes is not below 2\^40$/],
    ['a k stride of 2^40 bytes or more', withProblem({ lk: 2 ** 31 - 1, h: 256, hk: 256 }), /^the k tensor map: globalStrides\[2\] = \d+ bytes is not below 2\^40$/],
  ];
  for (const [name, inputs, expected] of cases) {
    const path = chooseBackward(inputs);
    assert.equal(path.arch, 'sm_80', name);
    if (path.arch === 'sm_80') assert.match(path.reason, expected, name);
  }
  // 16 bytes is all the gradients need (four float32 columns at a time); the limit itself fits.
  assert.equal(chooseBackward(withPointers({ dq: BASE.pointers.dq! + 16n, dk: BASE.pointers.dk! + 16n, dv: BASE.pointers.dv! + 16n })).arch, 'sm_90a');
  assert.equal(chooseBackward({ ...BASE, sharedMemoryLimit: 180224 + 128 }).arch, 'sm_90a');
});

// --- the manifest ---

const raw = (extra: Record<string, unknown>) => ({
  kernels: [
    { file: 'f.fatbin', symbol: 'flash_bwd90_bf16_d128', arch: 'sm_90a', phase: 'bwd', dtype: 'bfloat16', headDim: 128, threads: 384, smemBytes: 1000, tileRows: 128, gridRows: 'lk', gridHeads: 'hk', ...extra },
  ],
});

test('the manifest: queryTileRows and dqBoxRows are optional, positive integers where given', () => {
  const [parsed] = parseManifest(raw({ keyTileRows: 128, queryTileRows: 64, dqBoxRows: 16 }), 'manifest.json');
  assert.deepEqual([parsed.keyTileRows, parsed.queryTileRows, parsed.dqBoxRows], [128, 64, 16]);
  const [without] = parseManifest(raw({ keyTileRows: 128 }), 'manifest.json');
  assert.equal('queryTileRows' in without, false);
  assert.equal('dqBoxRows' in without, false);
  for (const field of ['queryTileRows', 'dqBoxRows']) {
    for (const bad of [0, -64, 1.5, '64', null]) {
      assert.throws(
        () => parseManifest(raw({ [field]: bad }), 'manifest.json'),
        (e: unknown) => e instanceof BackendUnavailableError && new RegExp(`kernels\\[0\\]: expected ${field} to be a positive integer`).test(e.message),
        `${field} = ${String(bad)}`,
      );
    }
  }
});

test('selectKernel picks the sm_80 bwd even where an sm_90a bwd of the same head dim fits better', () => {
  assert.equal(selectKernel(KERNELS, 'bwd', 'bfloat16', 128, 227 * 1024).symbol, 'flash_bwd_bfloat16_d128');
  assert.equal(selectKernel(KERNELS, 'bwd', 'float16', 64, 227 * 1024).arch, 'sm_80');
});

test('everyRowHasKeys: the first and last query rows decide, as a row-by-row count says', () => {
  const rowHasKey = (p: Parameters<typeof everyRowHasKeys>[0], i: number) => {
    for (let j = 0; j < p.lk; j++) {
      const left = p.windowLeft < 0 || j >= i + p.diagonalOffset - p.windowLeft;
      const right = p.windowRight < 0 || j <= i + p.diagonalOffset + p.windowRight;
      if (left && right) return true;
    }
    return false;
  };
  fc.assert(
    fc.property(
      fc.record({
        lq: fc.integer({ min: 1, max: 40 }),
        lk: fc.integer({ min: 1, max: 40 }),
        windowLeft: fc.integer({ min: -1, max: 45 }),
        windowRight: fc.integer({ min: -1, max: 45 }),
        diagonalOffset: fc.integer({ min: -50, max: 50 }),
      }),
      (p) => everyRowHasKeys(p) === Array.from({ length: p.lq }, (_, i) => rowHasKey(p, i)).every(Boolean),
    ),
    { seed: 32, numRuns: 2000 },
  );
});

test('sidePreEntry: a call with rows that see no key gets bwd_pre_side only where the build\'s bwd_dq waits for its rows\' flags', () => {
  const kernels = onlyBwd90({ persistent: true, countsDqItems: true, waitsForReadyRows: true });
  const path = chooseBackward({ ...BASE, kernels });
  assert.equal(path.arch, 'sm_90a');
  const rows = { file: 'sm_80.fatbin', arch: 'sm_80', dtype: 'bfloat16', headDim: 128, smemBytes: 0, gridRows: 'lq', gridHeads: 'h' } as const;
  const side: KernelEntry = { ...rows, symbol: 'flash_bwd_pre_side_bf16_d128', phase: 'bwd_pre_side', threads: 1024, tileRows: 256, multiprocessorsPerBlock: 3 };
  const dq = (waits: boolean): KernelEntry => ({ ...rows, symbol: 'flash_bwd_dq_bf16_d128', phase: 'bwd_dq', threads: 128, tileRows: 16, ...(waits ? { waitsForReadyRows: true } : {}) });
  const call = (lq: number, lk: number) => ({
    n: 1, lq, lk, h: 4, hk: 2, d: 128, dtype: 'bfloat16', device: 'cuda', softmaxScale: 0.1, windowLeft: -1, windowRight: 0,
    diagonalOffset: lk - lq, outDtype: 'bfloat16', deterministic: false,
  } as const);
  for (const waits of [true, false]) {
    const build = [...kernels, side, dq(waits)];
    assert.equal(sidePreEntry(build, call(100, 300), path, {}), side, `every row has a key (bwd_dq waits: ${waits})`);
    assert.equal(sidePreEntry(build, call(300, 100), path, {}), waits ? side : undefined, `causal lq > lk (bwd_dq waits: ${waits})`);
  }
  // d = 96 runs the d = 128 Hopper bwd but the bwd_dq compiled for 96, if the build has one: that one must wait.
  const d96 = { ...call(300, 100), d: 96 };
  const dq96 = (waits: boolean): KernelEntry => ({ ...dq(waits), symbol: 'flash_bwd_dq_bf16_d96', headDim: 96 });
  assert.equal(sidePreEntry([...kernels, side, dq(true), dq96(false)], d96, path, {}), undefined, "d = 96's own bwd_dq does not wait");
  assert.equal(sidePreEntry([...kernels, side, dq(false), dq96(true)], d96, path, {}), side, "d = 96's own bwd_dq waits");
  assert.equal(sidePreEntry([...kernels, side, dq(true), { ...dq(false), symbol: 'flash_bwd_dq_bf16_d128_s99', smemBytes: 99 }], call(300, 100), path, {}), undefined, 'one variant that does not wait');
});

test('pacedSideBlocks: a side marked pacedBlocks beside a persistent Hopper bwd launched to overlap it, under a right window with lq and lk up to PACE_MAX_KEYS, on a device with room for both', () => {
  const main = { persistent: true, countsDqItems: true, waitsForReadyRows: true, waitsForPreviousGrid: true } as const;
  const path = chooseBackward({ ...BASE, kernels: onlyBwd90(main) });
  assert.equal(path.arch, 'sm_90a');
  const side: KernelEntry = {
    file: 'sm_80.fatbin', arch: 'sm_80', dtype: 'bfloat16', headDim: 128, smemBytes: 0, gridRows: 'lq', gridHeads: 'h',
    symbol: 'flash_bwd_pre_side_bf16_d128', phase: 'bwd_pre_side', threads: 1024, tileRows: 256, multiprocessorsPerBlock: 3, pacedBlocks: 12,
  };
  const h100 = { multiprocessorCount: 132, canOverlapLaunches: true };
  const call = (lq: number, lk: number, windowRight: number) => ({
    n: 1, lq, lk, h: 4, hk: 2, d: 128, dtype: 'bfloat16', device: 'cuda', softmaxScale: 0.1, windowLeft: -1, windowRight,
    diagonalOffset: lk - lq, outDtype: 'bfloat16', deterministic: false,
  } as const);
  const [most, past] = [PACE_MAX_KEYS, PACE_MAX_KEYS + 1];
  for (const windowRight of [0, 5]) {
    assert.equal(pacedSideBlocks(h100, call(most, most, windowRight), path, side), 12, `lq = lk = ${most}, right window ${windowRight}`);
    assert.equal(pacedSideBlocks(h100, call(most, past, windowRight), path, side), 0, `lk = ${past}, right window ${windowRight}`);
    assert.equal(pacedSideBlocks(h100, call(past, most, windowRight), path, side), 0, `lq = ${past}, right window ${windowRight}`);
  }
  assert.equal(pacedSideBlocks(h100, call(64, 64, -1), path, side), 0, 'no right window');
  assert.equal(pacedSideBlocks({ ...h100, multiprocessorCount: 48 }, call(512, 512, 0), path, side), 12, 'a quarter of the multiprocessors at most');
  assert.equal(pacedSideBlocks({ ...h100, multiprocessorCount: 47 }, call(512, 512, 0), path, side), 0, 'more than a quarter');
  assert.equal(pacedSideBlocks({ ...h100, canOverlapLaunches: false }, call(512, 512, 0), path, side), 0, 'launches that cannot overlap (FLASH_ATTN_PDL=0)');
  const { waitsForPreviousGrid: _waits, ...plainMain } = main;
  const plain = chooseBackward({ ...BASE, kernels: onlyBwd90(plainMain) });
  assert.equal(pacedSideBlocks(h100, call(512, 512, 0), plain, side), 0, 'a Hopper bwd launched after the side ends');
  const { pacedBlocks: _unmarked, ...older } = side;
  assert.equal(pacedSideBlocks(h100, call(512, 512, 0), path, older), 0, 'an older build\'s side');
  assert.equal(pacedSideBlocks(h100, call(512, 512, 0), path, undefined), 0, 'no side');
  const { persistent: _persistent, ...perItem } = main;
  const blocks = chooseBackward({ ...BASE, kernels: onlyBwd90(perItem) });
  assert.equal(pacedSideBlocks(h100, call(512, 512, 0), blocks, side), 0, 'a Hopper bwd with a block per item claims nothing');
  assert.equal(pacedSideBlocks(h100, call(512, 512, 0), { arch: 'sm_80', reason: 'test' }, side), 0, 'the sm_80 bwd');
});
