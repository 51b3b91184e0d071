/** The bench's warm-up: `warmup` untimed calls per pass, and the grid's first case repeats them for spinUpMs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../src/index.js'; // registers the CPU backend, which the cases run on
import { type BenchCase, type BenchSettings, benchGrid } from '../../src/cli/bench.js';
import type { Timer } from '../../src/cli/timer.js';

const CASES: BenchCase[] = [
  { n: 1, l: 8, h: 1, d: 4, causal: false },
  { n: 1, l: 8, h: 1, d: 4, causal: true },
];

// A timer that runs each call and says it took `ms`, logging how many calls each request asked for.
function countingTimer(requests: number[], ms = 1): Timer {
  return async (run, repeats) => {
    requests.push(repeats);
    for (let r = 0; r < repeats; r++) run();
    return new Array<number>(repeats).fill(ms);
  };
}

function settings(timer: Timer, warmup: number, spinUpMs?: number): BenchSettings {
  return { device: 'cpu', dtype: 'float32', repeats: 3, warmup, inputSets: 1, timer, spinUpMs };
}

test('the first case warms each pass up for spinUpMs, in rounds of `warmup`; later cases warm up once', async () => {
  const requests: number[] = [];
  await benchGrid(CASES, settings(countingTimer(requests), 5, 12));
  // Case 1: forward 5 + 5 + 5 (15 ms >= 12), 3 timed; backward the same. Case 2: 5 then 3 for each pass.
  assert.deepEqual(requests, [5, 5, 5, 3, 5, 5, 5, 3, 5, 3, 5, 3]);
});

test('without spinUpMs every case warms up once, and warmup 0 means no untimed call at all', async () => {
  const once: number[] = [];
  await benchGrid(CASES, settings(countingTimer(once), 2));
  assert.deepEqual(once, [2, 3, 2, 3, 2, 3, 2, 3]);
  const none: number[] = [];
  await benchGrid(CASES, settings(countingTimer(none), 0, 500));
  assert.deepEqual(none, [3, 3, 3, 3]);
});

test('a timer that reads 0 ms ends the spin-up after a bounded number of rounds', async () => {
  const requests: number[] = [];
  await benchGrid(CASES.slice(0, 1), settings(countingTimer(requests, 0), 1, 10));
  // 1000 warm-up rounds of one call, 3 timed, for each pass.
  assert.deepEqual(requests, [...new Array<number>(1000).fill(1), 3, ...new Array<number>(1000).fill(1), 3]);
});
