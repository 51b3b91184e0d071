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
