/**
 * The test support itself: the tolerance rule flags what it must (NaN, a wrong -Infinity, errors above
 * the bound) and prints the numbers, the seed and a repro line; the sampled grid covers every value of
 * every axis of testing.md for every dtype; testDevices() reads FLASH_ATTN_TEST_DEVICES, and FLASH_ATTN_REQUIRE_GPU
 * turns a missing GPU from a skip into a failure; the environment helpers put variables back, an async body's only
 * once it settles.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, beforeEach, describe, it } from 'node:test';
import { DTYPES } from '../../src/dtype.js';
import { caseName, reproLine, singleTestLine } from '../support/attentionCase.js';
import { devices } from '../../src/index.js';
import { dtypesFor, gpuAbsence, testDevices } from '../support/devices.js';
import { setEnv, withEnv, withEnvAsync } from '../support/env.js';
import { CASE_CAP, HEAD_DIMS, HEAD_RATIOS, MASK_KINDS, SEQ_PAIRS, caseCost, gridCases } from '../support/grids.js';
import { errorStats, toleranceFailure } from '../support/tolerance.js';

describe('tolerance rule', () => {
  const ctx = { seed: 17, repro: 'REPRO-LINE' };

  it('counts NaN, infinities and a missing -Infinity as infinite errors', () => {
    assert.equal(errorStats([1, NaN], [1, 2]).max, Infinity);
    assert.equal(errorStats([-Infinity, 0], [-Infinity, 0]).max, 0);
    assert.equal(errorStats([-3, 0], [-Infinity, 0]).max, Infinity);
    assert.equal(errorStats([Infinity], [1]).max, Infinity);
    assert.equal(errorStats([1, 2], [1]).max, Infinity, 'a length mismatch fails');
    const s = errorStats([1, 2.5, 3], [1, 2, 3]);
    assert.deepEqual(s, { max: 0.5, mean: 0.5 / 3, at: 1 });
  });

  it('float16: passes within F * lp error + floor, fails above it with max, mean, ratio, seed and repro', () => {
    const x64 = [1, 2, 4];
    const xlp = [1, 2, 4.004];
    assert.equal(toleranceFailure({ name: 'o', x: [1, 2, 4.0079], x64, xlp, dtype: 'float16', factor: 2 }, ctx), null);
    const failure = toleranceFailure({ name: 'o', x: [1, 2, 4.05], x64, xlp, dtype: 'float16', factor: 2 }, ctx);
    assert.ok(failure);
    for (const part of ['o: max err 5.000e-2 at [2]', 'mean err', 'ratio 1.250e+1 > F=2', 'seed 17', 'repro: REPRO-LINE']) {
      assert.ok(failure.includes(part), `${part} missing from: ${failure}`);
    }
  });

  it('the floor (2 ulp at max|X64|) lets an exact baseline pass with rounding-size errors only', () => {
    const x64 = [0.5, 1];
    assert.equal(toleranceFailure({ name: 'dq', x: [0.5, 1 + 2 ** -9], x64, xlp: x64, dtype: 'float16', factor: 3 }, ctx), null);
    assert.ok(toleranceFailure({ name: 'dq', x: [0.5, 1 + 2 ** -8], x64, xlp: x64, dtype: 'float16', factor: 3 }, ctx));
  });

  it('float32: relative error 1e-5 against max|X64|', () => {
    assert.equal(toleranceFailure({ name: 'lse', x: [100.0009], x64: [100], dtype: 'float32', factor: 2 }, ctx), null);
    assert.ok(toleranceFailure({ name: 'lse', x: [100.002], x64: [100], dtype: 'float32', factor: 2 }, ctx)?.includes('relative'));
  });

  it('repro lines rerun exactly one test on one device', () => {
    const name = caseName({ n: 1, lq: 2, lk: 3, h: 2, hk: 1, d: 8, dtype: 'float16', options: { windowSize: [1, -1] }, seed: 5 });
    assert.equal(name, 'float16 n1 lq2 lk3 h2/1 d8 { windowSize: [1, -1] } seed 5');
    const line = reproLine('cuda:0', name, 'dist/tests/backend/x.test.js');
    assert.equal(line, "FLASH_ATTN_TEST_DEVICES=cuda:0 node --test --test-name-pattern='float16 n1 lq2 lk3 h2\\/1 d8 \\{ windowSize: \\[1, -1\\] \\} seed 5' dist/tests/backend/x.test.js");
    const pattern = new RegExp(name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
    assert.ok(pattern.test(name));
    // A quote in a test name survives the shell: the line's argument is the escaped name, whole.
    const quotedName = "dq as accurate as the default's: {\"d\":64}";
    const quotedLine = singleTestLine(quotedName, 'f.js');
    const argument = execFileSync('sh', ['-c', `printf %s ${quotedLine.slice('node --test '.length, -' f.js'.length)}`], { encoding: 'utf8' });
    assert.ok(new RegExp(argument.slice('--test-name-pattern='.length)).test(quotedName), argument);
  });
});

describe('sampled grid', () => {
  for (const dtype of DTYPES) {
    it(`${dtype}: every head dim, (lq, lk) pair, h/hk ratio and mask kind appears; every case fits the cap`, () => {
      const cases = gridCases(dtype).map((c) => c.spec);
      for (const d of HEAD_DIMS) assert.ok(cases.some((c) => c.d === d), `head dim ${d} missing`);
      for (const [lq, lk] of SEQ_PAIRS) assert.ok(cases.some((c) => c.lq === lq && c.lk === lk), `(${lq}, ${lk}) missing`);
      for (const [h, hk] of HEAD_RATIOS) assert.ok(cases.some((c) => c.h === h && c.hk === hk), `${h}/${hk} missing`);
      for (const n of [1, 2, 3, 4]) assert.ok(cases.some((c) => c.n === n), `batch ${n} missing`);
      const kinds = new Set(cases.map((c) => JSON.stringify(c.options)));
      assert.ok(kinds.has('{}') && kinds.has('{"isCausal":true}'), 'none and causal');
      for (const w of ['[0,0]', '[-1,0]', '[3,3]']) assert.ok(kinds.has(`{"windowSize":${w}}`), `window ${w} missing`);
      assert.ok(cases.some((c) => c.options.windowSize && c.options.windowSize[0] >= 0 && c.options.windowSize[1] === -1), 'left only');
      assert.ok(cases.some((c) => c.options.windowSize && c.options.windowSize[0] === -1 && c.options.windowSize[1] > 0), 'right only');
      assert.ok(cases.filter((c) => c.options.windowSize && c.options.windowSize.every((x) => x >= 0)).length >= 3, 'random windows');
      assert.ok(MASK_KINDS.length === 8);
      for (const c of cases) assert.ok(caseCost(c) <= CASE_CAP, `${caseName(c)} costs ${caseCost(c)}`);
      assert.deepEqual(gridCases(dtype), gridCases(dtype), 'the sample is deterministic');
      const scales = cases.map((c) => c.options.softmaxScale).filter((x) => x !== undefined);
      assert.ok(scales.some((x) => x < 0) && scales.includes(0) && scales.some((x) => x > 0), `scales: ${scales}`);
      assert.ok(cases.some((c) => c.d === 256 && c.lq > 100 && c.lk > 100), 'd = 256 on lengths beyond one key');
    });
  }
});

describe('test devices', () => {
  it('FLASH_ATTN_TEST_DEVICES overrides the default list; dtypes per device', () => {
    withEnv({ FLASH_ATTN_TEST_DEVICES: ' cuda:0, cpu:1 ,' }, () => assert.deepEqual(testDevices(), ['cuda:0', 'cpu:1']));
    withEnv({ FLASH_ATTN_TEST_DEVICES: undefined, FLASH_ATTN_REQUIRE_GPU: undefined }, () => assert.equal(testDevices()[0], 'cpu:0'));
    assert.deepEqual(dtypesFor('cpu:0'), ['float32', 'float16', 'bfloat16']);
    assert.deepEqual(dtypesFor('cuda:0'), ['float16', 'bfloat16']);
  });

  it('FLASH_ATTN_REQUIRE_GPU=1 makes a missing GPU an error instead of a skip', () => {
    withEnv({ FLASH_ATTN_REQUIRE_GPU: undefined }, () => {
      assert.equal(gpuAbsence('no CUDA device: libcuda.so.1 not found'), 'no CUDA device: libcuda.so.1 not found');
      assert.equal(gpuAbsence(false), false);
    });
    withEnv({ FLASH_ATTN_REQUIRE_GPU: '1', FLASH_ATTN_TEST_DEVICES: undefined }, () => {
      assert.throws(() => gpuAbsence('no CUDA device: libcuda.so.1 not found'), /FLASH_ATTN_REQUIRE_GPU=1, but no CUDA device: libcuda/);
      assert.equal(gpuAbsence(false), false);
      if (devices().includes('cuda:0')) assert.deepEqual(testDevices(), ['cpu:0', 'cuda:0']);
      else assert.throws(() => testDevices(), /FLASH_ATTN_REQUIRE_GPU=1, but cuda:0 is not among/);
    });
  });
});

describe('environment helpers', () => {
  const [A, B] = ['FLASH_ATTN_ENV_TEST_A', 'FLASH_ATTN_ENV_TEST_B'];
  // Set by hand, not by the helpers under test: A set and B unset before each test, both unset after the last.
  beforeEach(() => {
    process.env[A] = 'before';
    delete process.env[B];
  });
  after(() => {
    delete process.env[A];
    delete process.env[B];
  });
  const current = () => [process.env[A], process.env[B]];
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('setEnv sets and unsets at once and returns what puts the earlier values back', () => {
    const restore = setEnv({ [A]: undefined, [B]: 'during' });
    assert.deepEqual(current(), [undefined, 'during']);
    restore();
    assert.deepEqual(current(), ['before', undefined]);
  });

  it('withEnv restores the variables when the body throws', () => {
    assert.throws(() => withEnv({ [A]: undefined, [B]: 'during' }, () => assert.fail('body failed')), /body failed/);
    assert.deepEqual(current(), ['before', undefined]);
  });

  it("withEnvAsync keeps the variables across the body's awaits and restores them once it settles", async () => {
    const pending = withEnvAsync({ [A]: undefined, [B]: 'during' }, async () => {
      await turn();
      assert.deepEqual(current(), [undefined, 'during'], 'after an await');
      return 42;
    });
    assert.deepEqual(current(), [undefined, 'during'], 'while the body is pending');
    assert.equal(await pending, 42);
    assert.deepEqual(current(), ['before', undefined]);
  });

  it('withEnvAsync restores the variables when the body rejects, and rejects with its error', async () => {
    const failure = new Error('body failed');
    const pending = withEnvAsync({ [A]: undefined, [B]: 'during' }, async () => {
      await turn();
      assert.deepEqual(current(), [undefined, 'during'], 'after an await');
      throw failure;
    });
    await assert.rejects(pending, (e: unknown) => e === failure);
    assert.deepEqual(current(), ['before', undefined]);
  });
});
