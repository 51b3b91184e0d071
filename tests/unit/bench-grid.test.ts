/**
 * The bench's cases: the standard grid of performance.md, with `--n` or `--h` replacing only the size given (a
 * missing `--h` once fell back to h = 8 whenever `--n` was given, so `--n 8` at d = 128 timed 8 heads, not 16).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gridCases } from '../../src/cli/bench.js';

test('without sizes, the standard grid: h = 2048 / d, n = 16384 / l', () => {
  const cases = gridCases({}, [64, 256], [512, 16384], [false]);
  assert.deepEqual(
    cases.map(({ n, h, d, l }) => [n, h, d, l]),
    [[32, 32, 64, 512], [1, 32, 64, 16384], [32, 8, 256, 512], [1, 8, 256, 16384]],
  );
});

test('--n alone keeps the standard heads, --h alone the standard batch', () => {
  assert.deepEqual(gridCases({ n: 8 }, [128], [512, 2048], [true]).map(({ n, h }) => [n, h]), [[8, 16], [8, 16]]);
  assert.deepEqual(gridCases({ h: 4 }, [64], [1024], [false]).map(({ n, h }) => [n, h]), [[16, 4]]);
  assert.deepEqual(gridCases({ n: 2, h: 3 }, [64], [512], [false, true]).map(({ n, h, causal }) => [n, h, causal]),
    [[2, 3, false], [2, 3, true]]);
});
