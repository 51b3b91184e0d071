// The command line's answers to mistyped or help requests: the usage and exit status 2 (or 0 for help), no stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('--help and -h after a command print the usage and exit 0', () => {
  for (const args of [['bench', '--help'], ['demo', '-h'], ['bench', '--ring', '--help'], ['--help']]) {
    const run = cli(...args);
    assert.equal(run.status, 0, args.join(' '));
    assert.match(run.stdout, /bench options:/, args.join(' '));
  }
});

test('an unknown option or an option without its value: a one-line reason, the usage, exit 2, no stack trace', () => {
  for (const [args, reason] of [
    [['bench', '--bogus'], /Unknown option '--bogus'/],
    [['bench', '--d'], /--d <value>' argument missing/],
    [['demo', '--repeats', '3'], /Unknown option '--repeats'/],
  ] as const) {
    const run = cli(...args);
    assert.equal(run.status, 2, args.join(' '));
    assert.match(run.stderr, reason);
    assert.match(run.stderr, /bench options:/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('bench refuses, before any work, a flag its mode would ignore or a value it would misread', () => {
  for (const [args, reason] of [
    [['bench', '--device', 'cpu', '--ring', '--save', 'x.json'], /--save: not used by bench with --ring/],
    [['bench', '--device', 'cpu', '--ring', '--no-peers', '--n', '2'], /--n, --no-peers: not used by bench with --ring/],
    [['bench', '--device', 'cpu', '--world', '2'], /--world: not used by bench without --ring/],
    [['bench', '--device', 'cpu', '--ring', '--layout', 'zig'], /--layout: expected zigzag, contiguous or both, got 'zig'/],
    [['bench', '--device', 'cpu', '--ring', '--causal', 'maybe'], /--causal: expected both, yes or no, got 'maybe'/],
    [['bench', '--device', 'cpu', '--ring', '--d', '64,128'], /--d: expected one integer here, got '64,128'/],
    [['bench', '--device', 'cpu', '--repeats', '3,5'], /--repeats: expected one integer here, got '3,5'/],
    [['bench', '--device', 'cpu', '--ring', '--sustain-ms', '500'], /--sustain-ms: not used by bench with --ring/],
    [['bench', '--device', 'cpu', '--sustain-ms=1.5'], /--sustain-ms: expected integers >= 0 separated by commas, got '1.5'/],
  ] as const) {
    const run = cli(...args);
    assert.equal(run.status, 1, args.join(' '));
    assert.match(run.stderr, reason, args.join(' '));
    assert.equal(run.stdout, '', `${args.join(' ')}: nothing timed`);
  }
});
