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

function settings(timer: Timer, warmup: number, spinUpMs?: number): BenchSettings {
  return { device: 'cpu', dtype: 'float32', repeats: 3, warmup, inputSets: 1, timer, spinUpMs };
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
