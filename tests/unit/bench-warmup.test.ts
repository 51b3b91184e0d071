/**
 * The bench's warm-up: `warmup` untimed calls per pass; the grid's first case goes on in rounds that double up to
 * 64 calls until spinUpMs.
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
const doubling = (first: number, rounds: number): number[] => Array.from({ length: rounds }, (_, i) => first * 2 ** i);
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

// Rounds that double from `first` up to 64 calls, then stay at 64, ending with the first whose running sum reaches
// `calls` (asserted on `rounds`, which must have that form).
function assertCappedRounds(rounds: number[], first: number, calls: number): void {
  const doubled = rounds.findIndex((r) => r === 64);
  assert.deepEqual(rounds.slice(0, doubled), doubling(first, doubled));
  assert.ok(rounds.slice(doubled).every((r) => r === 64), 'no round above 64 calls');
  assert.ok(sum(rounds) >= calls && sum(rounds.slice(0, -1)) < calls, `rounds end once ${calls} calls are spent`);
}

test('the first case warms each pass up for spinUpMs, in rounds that double from `warmup`; later cases once', async () => {
  const requests: number[] = [];
  await benchGrid(CASES, settings(countingTimer(requests), 5, 12));
  // Case 1: forward 5 + 10 (15 ms >= 12), 3 timed; backward the same. Case 2: 5 then 3 for each pass.
  assert.deepEqual(requests, [5, 10, 3, 5, 10, 3, 5, 3, 5, 3]);
});

test('calls of 10 us reach a 0.5 s spin-up in rounds of at most 64 calls (5, 10, 20, 40, then 64s)', async () => {
  const requests: number[] = [];
  await benchGrid(CASES.slice(0, 1), settings(countingTimer(requests, 0.01), 5, 500));
  const warmUp = firstWarmUp(requests);
  assert.deepEqual(warmUp.slice(0, 5), [5, 10, 20, 40, 64]);
  assertCappedRounds(warmUp, 5, 50_000);
});

test('a --warmup above 64 is each round of the spin-up', async () => {
  const requests: number[] = [];
  await benchGrid(CASES.slice(0, 1), settings(countingTimer(requests, 1), 100, 250));
  assert.deepEqual(firstWarmUp(requests), [100, 100, 100]);
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
  await benchGrid(CASES.slice(0, 1), settings(countingTimer(requests, 0), 1, 10));
  const forward = firstWarmUp(requests);
  assertCappedRounds(forward, 1, 100_000);
  // The backward the same, after the forward's three timed calls.
  assert.deepEqual(requests, [...forward, 3, ...forward, 3]);
});
