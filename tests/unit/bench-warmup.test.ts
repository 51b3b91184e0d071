/**
 * The bench's warm-up: `warmup` untimed calls per pass; the grid's first case goes on in rounds of as many until
 * spinUpMs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../src/index.js'; // registers the CPU backend, which the cases run on
import { type BenchCase, type BenchSettings, benchGrid } from '../../src/cli/bench.js';
import type { Timer } from '../../src/cli/timer.js';

const CASES: BenchCase[] = [
  { n: 1, l: 8, h: 1, d: 4, causal: false },
  { n: 1, l: 8, h: 1, d: 4, causal: true },
];

// A timer that says each call took `ms`, logging how many calls each request asked for. It runs the pass once per
// request, not once per call: the spin-up asks for up to 10^5 calls, which the CPU would take seconds over.
function countingTimer(requests: number[], ms = 1): Timer {
  return async (run, repeats) => {
    requests.push(repeats);
    run();
    return new Array<number>(repeats).fill(ms);
  };
}

function settings(timer: Timer, warmup: number, spinUpMs?: number, sustainMs?: number): BenchSettings {
  return { device: 'cpu', dtype: 'float32', repeats: 3, warmup, inputSets: 1, timer, spinUpMs, sustainMs };
}

// The warm-up requests of the first pass of a request log: those before the first timed request (3 calls).
const firstWarmUp = (requests: number[]): number[] => requests.slice(0, requests.indexOf(3));

test('the first case warms each pass up for spinUpMs, in rounds of `warmup` calls; later cases once', async () => {
  const requests: number[] = [];
  await benchGrid(CASES, settings(countingTimer(requests), 5, 12));
  // Case 1: forward 5 + 5 + 5 (15 ms >= 12), 3 timed; backward the same. Case 2: 5 then 3 for each pass.
  assert.deepEqual(requests, [5, 5, 5, 3, 5, 5, 5, 3, 5, 3, 5, 3]);
});

test('calls of 62.5 us reach a 0.5 s spin-up in 1600 rounds of five', async () => {
  const requests: number[] = [];
  // 62.5 us = 2^-4 ms: the sums are exact, so the round count is exactly 500 / (5 * 0.0625).
  await benchGrid(CASES.slice(0, 1), settings(countingTimer(requests, 0.0625), 5, 500));
  const warmUp = firstWarmUp(requests);
  assert.equal(warmUp.length, 1600);
  assert.ok(warmUp.every((r) => r === 5));
});

test('without spinUpMs every case warms up once, and warmup 0 means no untimed call at all', async () => {
  const once: number[] = [];
  await benchGrid(CASES, settings(countingTimer(once), 2));
  assert.deepEqual(once, [2, 3, 2, 3, 2, 3, 2, 3]);
  const none: number[] = [];
  await benchGrid(CASES, settings(countingTimer(none), 0, 500));
  assert.deepEqual(none, [3, 3, 3, 3]);
});

test('a timer that reads 0 ms ends the spin-up once 100 000 calls are spent', async () => {
  const requests: number[] = [];
  await benchGrid(CASES.slice(0, 1), settings(countingTimer(requests, 0), 10, 10));
  const forward = firstWarmUp(requests);
  assert.equal(forward.length, 10_000);
  assert.ok(forward.every((r) => r === 10));
  // The backward the same, after the forward's three timed calls.
  assert.deepEqual(requests, [...forward, 3, ...forward, 3]);
});

test('a warmup that is not a whole number of calls, or a timer that reads NaN, is an error rather than a hang', async () => {
  for (const warmup of [-1, 2.5]) {
    await assert.rejects(benchGrid(CASES.slice(0, 1), settings(countingTimer([]), warmup, 10)), { code: 'ERR_USAGE' });
  }
  await assert.rejects(benchGrid(CASES.slice(0, 1), settings(countingTimer([], NaN), 5, 10)), { code: 'ERR_TIMER' });
});

test('a warmup above 100 000 calls is one round', async () => {
  const requests: number[] = [];
  await benchGrid(CASES.slice(0, 1), settings(countingTimer(requests, 0), 150_000, 10));
  assert.deepEqual(requests, [150_000, 3, 150_000, 3]);
});

test('sustainMs: every pass of every case after that long of calls, in rounds doubling up to 20 ms', async () => {
  const requests: number[] = [];
  await benchGrid(CASES, settings(countingTimer(requests), 5, undefined, 100));
  // 1 ms a call: 5 + 10 + 20 (a 20 ms round stops the doubling) + 20 + 20 + 20 = 95 < 100, one more round of 20.
  const pass = [5, 10, 20, 20, 20, 20, 20, 3];
  assert.deepEqual(requests, [...pass, ...pass, ...pass, ...pass]);
});

test('sustainMs below the first case\'s spin-up: that case sustains for the spin-up; warmup 0 starts at one call', async () => {
  const requests: number[] = [];
  await benchGrid(CASES, settings(countingTimer(requests), 0, 10, 2));
  // Case 1: 1 + 2 + 4 + 8 = 15 ms >= 10 for each pass; case 2: 1 + 2 = 3 ms >= 2.
  assert.deepEqual(requests, [1, 2, 4, 8, 3, 1, 2, 4, 8, 3, 1, 2, 3, 1, 2, 3]);
});

test('sustainMs with a timer that reads 0 ms ends once 100 000 calls are spent; a bad sustainMs is refused', async () => {
  const requests: number[] = [];
  await benchGrid(CASES.slice(0, 1), settings(countingTimer(requests, 0), 1, undefined, 10));
  const forward = requests.slice(0, requests.indexOf(3));
  assert.equal(forward.reduce((a, b) => a + b, 0) >= 100_000, true);
  assert.equal(forward.reduce((a, b) => a + b, 0) - forward.at(-1)! < 100_000, true);
  for (const bad of [-1, NaN]) {
    await assert.rejects(benchGrid(CASES.slice(0, 1), settings(countingTimer([]), 5, undefined, bad)), { code: 'ERR_USAGE' });
  }
});
