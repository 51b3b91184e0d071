// Which forward runs (no GPU needed): the tensor maps' geometry and TMA rules, and the rule that picks the
// Hopper kernel only where every condition holds, with each condition flipped one at a time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ForwardPathInputs, chooseForward } from '../../src/backend/cuda/forward-path.js';
import { kernelFamily } from '../../src/backend/cuda/hopper-path.js';
import { type KernelEntry, launchGrid, parseManifest } from '../../src/backend/cuda/table.js';
import { attentionTensorMap, tensorMapViolation } from '../../src/backend/cuda/tma.js';
import { BackendUnavailableError, OptionError, SizeLimitError } from '../../src/index.js';

test('attentionTensorMap: dims innermost first, byte strides of rows, heads and batch, a 64 x box-rows box', () => {
  const map = attentionTensorMap({ n: 2, rows: 1000, heads: 16, d: 128 }, 96);
  assert.deepEqual(map.globalDim, [128, 1000, 16, 2]);
  assert.deepEqual(map.globalStrides, [16 * 128 * 2, 128 * 2, 1000 * 16 * 128 * 2]);
  assert.deepEqual(map.boxDim, [64, 96, 1, 1]);
  assert.deepEqual(map.elementStrides, [1, 1, 1, 1]);
  assert.equal(tensorMapViolation(map, 0x7f00_0000_0000n), undefined);
});

test('attentionTensorMap over float32 (dq_accum): 4-byte strides, a box of 32 columns (still 128 bytes wide)', () => {
  const map = attentionTensorMap({ n: 2, rows: 1000, heads: 16, d: 96 }, 16, 4);
  assert.deepEqual([map.elementBytes, map.globalDim, map.globalStrides, map.boxDim], [4, [96, 1000, 16, 2], [16 * 96 * 4, 96 * 4, 1000 * 16 * 96 * 4], [32, 16, 1, 1]]);
  assert.equal(tensorMapViolation(map, 0x7f00_0000_0000n), undefined);
  assert.match(tensorMapViolation({ ...map, boxDim: [64, 16, 1, 1] }, 0x1000n) ?? 'valid', /inner extent \(256 bytes\)/, '64 float32 columns overflow the swizzle');
});

test('tensorMapViolation names the first broken TMA rule', () => {
  const ok = attentionTensorMap({ n: 1, rows: 8, heads: 2, d: 64 }, 128);
  const cases: [string, Parameters<typeof tensorMapViolation>[0], bigint, RegExp][] = [
    ['unaligned address', ok, 0x1008n, /not 16-byte aligned/],
    ['d not a multiple of 8 (strides)', attentionTensorMap({ n: 1, rows: 8, heads: 2, d: 60 }, 128), 0x1000n, /globalStrides\[1\] = 120 bytes is not a multiple of 16/],
    ['zero rows', attentionTensorMap({ n: 1, rows: 0, heads: 2, d: 64 }, 128), 0x1000n, /globalDim\[1\] = 0/],
    ['a dim above 2^32', { ...ok, globalDim: [64, 2 ** 32 + 1, 2, 1] }, 0x1000n, /globalDim\[1\] = 4294967297 is outside 1\.\.2\^32/],
    ['a stride of 2^40', { ...ok, globalStrides: [256, 128, 2 ** 40] }, 0x1000n, /globalStrides\[2\] = 1099511627776 bytes is not below 2\^40/],
    ['a box row over 256', attentionTensorMap({ n: 1, rows: 8, heads: 2, d: 64 }, 512), 0x1000n, /boxDim\[1\] = 512 is outside 1\.\.256/],
    ['an element stride of 9', { ...ok, elementStrides: [1, 9, 1, 1] }, 0x1000n, /elementStrides\[1\] = 9/],
    ['a box wider than the 128-byte swizzle', { ...ok, boxDim: [128, 128, 1, 1] }, 0x1000n, /inner extent \(256 bytes\)/],
  ];
  for (const [name, map, address, expected] of cases) {
    assert.match(tensorMapViolation(map, address) ?? 'valid', expected, name);
  }
});

test('FLASH_ATTN_KERNELS: unset, empty or auto picks per call; sm80 forces the sm_80 family; anything else is an OptionError', () => {
  assert.equal(kernelFamily(undefined), 'auto');
  assert.equal(kernelFamily(''), 'auto');
  assert.equal(kernelFamily('auto'), 'auto');
  assert.equal(kernelFamily('sm80'), 'sm80');
  for (const bad of ['sm90', 'SM80', 'sm_80', ' sm80']) {
    assert.throws(
      () => kernelFamily(bad),
      (e: unknown) => e instanceof OptionError && e.message === `FLASH_ATTN_KERNELS: expected 'sm80' (the sm_80 kernels everywhere) or 'auto' (the default: the Hopper kernels where they apply), got '${bad}'`,
    );
  }
});

// --- the rule ---

const entry = (arch: 'sm_80' | 'sm_90a', dtype: 'float16' | 'bfloat16', headDim: number, extra: Partial<KernelEntry> = {}): KernelEntry => ({
  file: `${arch}_${dtype}_${headDim}.fatbin`,
  symbol: `${arch === 'sm_90a' ? 'flash_fwd90' : 'flash_fwd'}_${dtype}_d${headDim}`,
  arch,
  phase: 'fwd',
  dtype,
  headDim,
  threads: arch === 'sm_90a' ? 384 : 128,
  smemBytes: arch === 'sm_90a' ? 164936 : 65536,
  tileRows: 128,
  gridRows: 'lq',
  gridHeads: 'h',
  ...(arch === 'sm_90a' ? { keyTileRows: headDim > 128 ? 64 : 128, outBoxRows: 16 } : {}),
  ...extra,
});

const KERNELS: KernelEntry[] = [
  ...[32, 64, 96, 128, 160, 192, 224, 256].flatMap((d) => [entry('sm_80', 'float16', d), entry('sm_80', 'bfloat16', d)]),
  ...[64, 128, 192, 256].flatMap((d) => [entry('sm_90a', 'float16', d), entry('sm_90a', 'bfloat16', d)]),
];

/** A call every condition allows: H100, bf16, d = 128, pool-aligned addresses. */
const BASE: ForwardPathInputs = {
  family: 'auto',
  computeCapability: [9, 0],
  sharedMemoryLimit: 227 * 1024,
  kernels: KERNELS,
  problem: { n: 2, lq: 1000, lk: 777, h: 16, hk: 4, d: 128, dtype: 'bfloat16', outDtype: 'bfloat16' },
  pointers: { q: 0x7f00_0000_0000n, k: 0x7f00_0010_0000n, v: 0x7f00_0020_0000n, o: 0x7f00_0030_0000n },
};

const withProblem = (change: Partial<ForwardPathInputs['problem']>): ForwardPathInputs => ({ ...BASE, problem: { ...BASE.problem, ...change } });
const withPointers = (change: Partial<ForwardPathInputs['pointers']>): ForwardPathInputs => ({ ...BASE, pointers: { ...BASE.pointers, ...change } });

test('the Hopper forward where every condition holds: its entry and the four maps', () => {
  const path = chooseForward(BASE);
  assert.equal(path.arch, 'sm_90a');
  if (path.arch !== 'sm_90a') return;
  assert.equal(path.entry.symbol, 'flash_fwd90_bfloat16_d128');
  assert.deepEqual(path.maps.q, attentionTensorMap({ n: 2, rows: 1000, heads: 16, d: 128 }, 128));
  assert.deepEqual(path.maps.k, attentionTensorMap({ n: 2, rows: 777, heads: 4, d: 128 }, 128));
  assert.deepEqual(path.maps.v, path.maps.k);
  assert.deepEqual(path.maps.o, attentionTensorMap({ n: 2, rows: 1000, heads: 16, d: 128 }, 16));
});

test("float32 o (ring attention's partial results): its map is over float32 data, boxes of 32 columns", () => {
  const path = chooseForward(withProblem({ outDtype: 'float32' }));
  assert.equal(path.arch, 'sm_90a');
  if (path.arch !== 'sm_90a') return;
  assert.deepEqual(path.maps.o, attentionTensorMap({ n: 2, rows: 1000, heads: 16, d: 128 }, 16, 4));
  assert.deepEqual(path.maps.o.boxDim, [32, 16, 1, 1]);
});

test('the smallest compiled Hopper head dim >= d serves d (96 -> 128, 200 -> 256), float16 too; o may be unknown yet', () => {
  for (const [d, dtype, symbol] of [
    [96, 'bfloat16', 'flash_fwd90_bfloat16_d128'],
    [200, 'float16', 'flash_fwd90_float16_d256'],
    [8, 'float16', 'flash_fwd90_float16_d64'],
    [256, 'bfloat16', 'flash_fwd90_bfloat16_d256'],
  ] as const) {
    const path = chooseForward(withProblem({ d, dtype }));
    assert.equal(path.arch === 'sm_90a' ? path.entry.symbol : path.reason, symbol, `d = ${d}`);
  }
  assert.equal(chooseForward({ ...BASE, pointers: { q: BASE.pointers.q, k: BASE.pointers.k, v: BASE.pointers.v } }).arch, 'sm_90a');
});

test("past the persistent kernel's 32-bit tile numbers (on GH100's 144 multiprocessors at most) the sm_80 forward runs, whose grid holds it", () => {
  const persistent = KERNELS.map((k) => (k.arch === 'sm_90a' ? { ...k, persistent: true as const } : k));
  const oneTileEach = (n: number, h: number): ForwardPathInputs => ({ ...BASE, kernels: persistent, problem: { ...BASE.problem, n, lq: 1, lk: 1, h, hk: 1 } });
  const big = chooseForward(oneTileEach(46341, 46341));
  assert.equal(big.arch === 'sm_80' ? big.reason : 'sm_90a', 'flash_fwd90_bfloat16_d128 numbers its tiles with 32-bit integers, and this problem has 2147488281');
  const sm80 = persistent.find((k) => k.arch === 'sm_80' && k.dtype === 'bfloat16' && k.headDim === 128) as KernelEntry;
  assert.deepEqual(launchGrid(sm80, oneTileEach(46341, 46341).problem, 132), [1, 46341, 46341]);
  assert.equal(chooseForward(oneTileEach(2 ** 31 - 144, 1)).arch, 'sm_90a', 'the last claim of 144 blocks is 2^31 - 1');
  assert.equal(chooseForward(oneTileEach(2 ** 31 - 143, 1)).arch, 'sm_80');
});

test('each condition flipped alone falls back to the sm_80 forward, saying why', () => {
  const sm90Only = KERNELS.filter((k) => k.arch === 'sm_90a');
  const cases: [string, ForwardPathInputs, RegExp][] = [
    ['FLASH_ATTN_KERNELS=sm80', { ...BASE, family: 'sm80' }, /^FLASH_ATTN_KERNELS=sm80$/],
    ['an A100 (8.0)', { ...BASE, computeCapability: [8, 0] }, /compute capability 8\.0 is not 9\.0/],
    ['a future card (10.0)', { ...BASE, computeCapability: [10, 0] }, /compute capability 10\.0 is not 9\.0/],
    ['a 9.x that is not 9.0', { ...BASE, computeCapability: [9, 1] }, /compute capability 9\.1 is not 9\.0/],
    ['float32', withProblem({ dtype: 'float32' }), /dtype float32 has no Hopper kernel/],
    ['no sm_90a entry in the manifest', { ...BASE, kernels: KERNELS.filter((k) => k.arch === 'sm_80') }, /no sm_90a forward is compiled for bfloat16, d = 128/],
    ['no sm_90a entry for this dtype', { ...BASE, kernels: KERNELS.filter((k) => k.arch === 'sm_80' || k.dtype === 'float16') }, /no sm_90a forward is compiled for bfloat16/],
    ['only smaller Hopper head dims compiled', { ...BASE, kernels: sm90Only.filter((k) => k.headDim < 128) }, /no sm_90a forward is compiled for bfloat16, d = 128/],
    ['d = 59', withProblem({ d: 59 }), /d = 59 is not a multiple of 8/],
    ['d = 100', withProblem({ d: 100 }), /d = 100 is not a multiple of 8/],
    ['q unaligned', withPointers({ q: BASE.pointers.q + 8n }), /^q is not 16-byte aligned/],
    ['k unaligned', withPointers({ k: BASE.pointers.k + 2n }), /^k is not 16-byte aligned/],
    ['v unaligned', withPointers({ v: BASE.pointers.v + 4n }), /^v is not 16-byte aligned/],
    ['o unaligned', withPointers({ o: BASE.pointers.o! + 4n }), /^o is not 16-byte aligned/],
    ['o 8-byte aligned only', withPointers({ o: BASE.pointers.o! + 8n }), /^o is not 16-byte aligned/],
    ['lq = 0', withProblem({ lq: 0 }), /lq or lk is 0/],
    ['lk = 0', withProblem({ lk: 0 }), /lq or lk is 0/],
    ['shared memory over the limit (a 99 KB card reporting 9.0)', { ...BASE, sharedMemoryLimit: 99 * 1024 }, /flash_fwd90_bfloat16_d128 needs 164936 bytes of shared memory per block, and this device allows 101376/],
    ['a manifest without keyTileRows', { ...BASE, kernels: KERNELS.map((k) => (k.arch === 'sm_90a' ? { ...k, keyTileRows: undefined } : k)) }, /gives flash_fwd90_bfloat16_d128 no keyTileRows/],
    ['a manifest without outBoxRows (a build from before the TMA stores of o)', { ...BASE, kernels: KERNELS.map((k) => (k.arch === 'sm_90a' ? { ...k, outBoxRows: undefined } : k)) }, /^the manifest gives flash_fwd90_bfloat16_d128 no outBoxRows$/],
    ['a k box over 256 rows', { ...BASE, kernels: KERNELS.map((k) => (k.arch === 'sm_90a' ? { ...k, keyTileRows: 512 } : k)) }, /the k tensor map: boxDim\[1\] = 512/],
    ['a q stride of 2^40 bytes or more', withProblem({ lq: 2 ** 31 - 1, h: 256, hk: 256 }), /the q tensor map: globalStrides\[2\] = \d+ bytes is not below 2\^40/],
  ];
  for (const [name, inputs, expected] of cases) {
    const path = chooseForward(inputs);
    assert.equal(path.arch, 'sm_80', name);
    if (path.arch === 'sm_80') assert.match(path.reason, expected, name);
  }
  // 16 bytes is all o needs (the 16-byte chunks the staged epilogue stores).
  assert.equal(chooseForward(withPointers({ o: BASE.pointers.o! + 16n })).arch, 'sm_90a');
});

test('launchGrid: a persistent kernel gets one block per multiprocessor, or per tile if there are fewer tiles', () => {
  const entry: KernelEntry = {
    file: 'f.fatbin', symbol: 'flash_fwd90_bf16_d128', arch: 'sm_90a', phase: 'fwd', dtype: 'bfloat16', headDim: 128,
    threads: 384, smemBytes: 1000, tileRows: 128, keyTileRows: 128, gridRows: 'lq', gridHeads: 'h', persistent: true,
  };
  const p = { n: 2, lq: 1000, lk: 50, h: 16, hk: 4 };
  assert.deepEqual(launchGrid(entry, p, 132), [132, 1, 1], '8 x 16 x 2 = 256 tiles on 132 multiprocessors');
  assert.deepEqual(launchGrid(entry, { ...p, lq: 100, h: 3 }, 132), [6, 1, 1], '1 x 3 x 2 tiles');
  assert.deepEqual(launchGrid(entry, { ...p, n: 70000, h: 1 }, 132), [132, 1, 1], 'no gridDim.z limit on n');
  assert.throws(() => launchGrid(entry, { ...p, lq: 2 ** 31, n: 1, h: 128 }, 132), SizeLimitError, '2^33 tiles');
  // The last claims are numbered up to tiles + grid - 1, which must stay a 32-bit integer.
  const tileRows = entry.tileRows;
  assert.deepEqual(launchGrid(entry, { ...p, lq: tileRows * (2 ** 31 - 132), n: 1, h: 1 }, 132), [132, 1, 1], '2^31 - 132 tiles');
  assert.throws(() => launchGrid(entry, { ...p, lq: tileRows * (2 ** 31 - 131), n: 1, h: 1 }, 132), SizeLimitError, '2^31 - 131 tiles');
  assert.deepEqual(launchGrid({ ...entry, persistent: undefined }, p, 132), [8, 16, 2], 'not persistent: a block per tile');
  assert.throws(() => launchGrid({ ...entry, persistent: undefined }, { ...p, n: 70000 }, 132), SizeLimitError);
});

test('parseManifest: outBoxRows is optional, a positive integer where given', () => {
  const raw = (extra: Record<string, unknown>) => ({
    kernels: [{ file: 'f.fatbin', symbol: 's', arch: 'sm_90a', phase: 'fwd', dtype: 'bfloat16', headDim: 128, threads: 384,
      smemBytes: 1000, tileRows: 128, keyTileRows: 128, gridRows: 'lq', gridHeads: 'h', ...extra }],
  });
  assert.equal(parseManifest(raw({ outBoxRows: 16 }), 'manifest.json')[0].outBoxRows, 16);
  assert.equal('outBoxRows' in parseManifest(raw({}), 'manifest.json')[0], false);
  for (const bad of [0, -16, 1.5, '16']) {
    assert.throws(() => parseManifest(raw({ outBoxRows: bad }), 'manifest.json'), /outBoxRows/, String(bad));
  }
});

test('parseManifest: persistent, waitsForPreviousGrid, accumOptional and countsDqItems are true or absent', () => {
  const raw = (extra: Record<string, unknown>) => ({
    kernels: [{ file: 'f.fatbin', symbol: 's', arch: 'sm_90a', phase: 'fwd', dtype: 'bfloat16', headDim: 128, threads: 384,
      smemBytes: 1000, tileRows: 128, keyTileRows: 128, gridRows: 'lq', gridHeads: 'h', ...extra }],
  });
  for (const key of ['persistent', 'waitsForPreviousGrid', 'accumOptional', 'countsDqItems'] as const) {
    assert.equal(parseManifest(raw({ [key]: true }), 'manifest.json')[0][key], true);
    assert.equal(parseManifest(raw({}), 'manifest.json')[0][key], undefined);
    for (const bad of [false, 1, 'yes']) {
      assert.throws(() => parseManifest(raw({ [key]: bad }), 'manifest.json'), BackendUnavailableError, `${key}: ${String(bad)}`);
    }
  }
});
