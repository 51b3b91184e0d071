// The command line's answers to mistyped or help requests: the usage and exit status 2 (or 0 for help), no stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function cli(...args: string[]) {
  return cliWith({}, ...args);
}

function cliWith(env: Record<string, string>, ...args: string[]) {
  const run = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
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
    [['devices', '--bogus'], /Unknown option '--bogus'/],
  ] as const) {
    const run = cli(...args);
    assert.equal(run.status, 2, args.join(' '));
    assert.match(run.stderr, reason);
    assert.match(run.stderr, /bench options:/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('bench refuses, before any work, a flag its mode would ignore or a value it would misread: the reason, exit 2', () => {
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
    assert.equal(run.status, 2, args.join(' '));
    assert.match(run.stderr, reason, args.join(' '));
    assert.match(run.stderr, /^flash-attn: .*\(flash-attn --help lists the options\)\n$/, args.join(' '));
    assert.equal(run.stdout, '', `${args.join(' ')}: nothing timed`);
  }
});

test('bench --ring runs on the W devices from --device on, refuses a device that does not exist', () => {
  const tiny = ['bench', '--ring', '--world', '2', '--l', '8', '--d', '8', '--h', '1', '--causal', 'no', '--repeats', '1', '--warmup', '0', '--json'];
  // The default 8 CPU devices, whatever the runner's environment says ('' is unset).
  const cpu8 = (...args: string[]) => cliWith({ FLASH_ATTN_CPU_DEVICES: '' }, ...args);
  const ringOn = (device: string) => {
    const run = cpu8(...tiny, '--device', device);
    assert.equal(run.status, 0, run.stderr);
    return [...new Set((JSON.parse(run.stdout) as { rows: { devices: string[] }[] }).rows.map((r) => r.devices.join(' ')))];
  };
  assert.deepEqual(ringOn('cpu:5'), ['cpu:5 cpu:6'], 'distinct devices from the one named');
  const report = JSON.parse(cliWith({ FLASH_ATTN_CPU_DEVICES: '', FLASH_ATTN_COMMIT: 'abc1234' }, ...tiny, '--device', 'cpu:0').stdout);
  assert.deepEqual([report.commit, report.machine.device], ['abc1234', 'cpu:0'], 'a ring report records its commit and machine, as bench --save does');
  assert.deepEqual(ringOn('cpu:7'), ['cpu:7 cpu:7'], 'virtual ranks on it where fewer are left');
  const missing = cpu8(...tiny, '--device', 'cpu:99');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /DeviceError: --device: 'cpu:99' does not exist; this machine has 8 cpu device\(s\)/);
  assert.equal(missing.stdout, '', 'nothing timed');
});

test("FLASH_ATTN_CPU_DEVICES: '' is unset; a bad value fails the command with a DeviceError, not the import", () => {
  assert.equal(cliWith({ FLASH_ATTN_CPU_DEVICES: '' }, 'devices').stdout.trim().split('\n').length, 8);
  assert.equal(cliWith({ FLASH_ATTN_CPU_DEVICES: '3' }, 'devices').stdout.trim(), 'cpu:0\ncpu:1\ncpu:2');
  const bad = cliWith({ FLASH_ATTN_CPU_DEVICES: 'abc' }, 'devices');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /DeviceError: FLASH_ATTN_CPU_DEVICES: expected an integer in 1\.\.1024, got 'abc'/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  for (const odd of ['0x10', '1e1', ' 3 ']) {
    assert.match(cliWith({ FLASH_ATTN_CPU_DEVICES: odd }, 'devices').stderr, /DeviceError: FLASH_ATTN_CPU_DEVICES: expected an integer in 1\.\.1024/);
  }
  // A huge count is refused at once rather than listed device by device.
  const huge = cliWith({ FLASH_ATTN_CPU_DEVICES: '1e12' }, 'devices');
  assert.equal(huge.status, 1);
  assert.match(huge.stderr, /DeviceError: FLASH_ATTN_CPU_DEVICES: expected an integer in 1\.\.1024, got '1e12'/);
});

test('demo on a device that does not exist fails before printing anything', () => {
  const run = cli('demo', '--device', 'cpu:9');
  assert.equal(run.status, 1);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /DeviceError: --device: 'cpu:9' does not exist/);
});

test('a malformed --device is a usage error (exit 2); a well-formed one that is not there fails as work (exit 1)', () => {
  for (const args of [['bench', '--device', 'gpu'], ['demo', '--device', 'cuda:01'], ['bench', '--ring', '--device', 'cpu:-1']]) {
    const run = cli(...args);
    assert.equal(run.status, 2, args.join(' '));
    assert.match(run.stderr, /^flash-attn: --device: expected 'cpu', 'cpu:N', 'cuda' or 'cuda:N', got '.*' \(flash-attn --help lists the options\)\n$/, args.join(' '));
    assert.equal(run.stdout, '', args.join(' '));
  }
  // No driver here, or no 100th GPU there: either way the device's own error, before the peers are looked for.
  const gone = cli('bench', '--device', 'cuda:99', '--d', '64', '--l', '512', '--causal', 'no');
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /^(BackendUnavailableError|DeviceError): /);
  assert.doesNotMatch(gone.stderr, /peers/);
  assert.equal(gone.stdout, '');
});

test('bench on the cpu refuses --no-peers, which only a GPU run uses', () => {
  const run = cli('bench', '--device', 'cpu', '--no-peers', '--l', '64', '--d', '8');
  assert.equal(run.status, 2);
  assert.match(run.stderr, /--no-peers: not used by bench on the cpu/);
  assert.equal(run.stdout, '');
});

test('demo checks each sampled row once: 8 rows (2 heads x 4 positions) with the CPU problem\'s one batch', () => {
  const run = cli('demo', '--device', 'cpu');
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.match(/ of 8 sampled rows vs float64: .* passed/g)?.length, 3, run.stdout);
});

test('an unknown command is refused even with --help; --d beyond 256 is a usage error naming --d', () => {
  const unknown = cli('frob', '--help');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command 'frob'/);
  for (const args of [['bench', '--device', 'cpu', '--d', '32,300'], ['bench', '--ring', '--device', 'cpu', '--d', '300']]) {
    const run = cli(...args);
    assert.equal(run.status, 2, args.join(' '));
    assert.match(run.stderr, /^flash-attn: --d: head dims go up to 256, got 300/, args.join(' '));
  }
});

test('bench --save: a path that cannot be written is refused before any work; the commit is the package\'s own', () => {
  const tiny = ['bench', '--device', 'cpu', '--d', '8', '--l', '16', '--repeats', '1', '--warmup', '0', '--causal', 'no'];
  const refused = cli(...tiny, '--save', join(tmpdir(), 'no-such-dir-flash-attn', 'x.json'));
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /^flash-attn: --save: cannot write '.*no-such-dir-flash-attn.*x\.json'/);
  assert.equal(refused.stdout, '', 'nothing was timed');
  for (const [file, why] of [[tmpdir(), 'it is a directory'], ['', 'no file named']]) {
    const run = cli(...tiny, '--save', file);
    assert.equal(run.status, 2, file);
    assert.match(run.stderr, new RegExp(`^flash-attn: --save: cannot write '.*': ${why}`), file);
    assert.equal(run.stdout, '', file);
  }

  const git = (cwd: string, ...args: string[]) => spawnSync('git', ['-C', cwd, ...args], { encoding: 'utf8' });
  const ours = git(ROOT, 'rev-parse', '--short', 'HEAD');
  if (ours.status !== 0) return;  // not a clone (a copied tree): the commit is 'unknown' or FLASH_ATTN_COMMIT's
  // Run from inside another repository: its commit is not the one measured.
  const elsewhere = mkdtempSync(join(tmpdir(), 'flash-attn-user-repo-'));
  try {
    git(elsewhere, 'init', '-q');
    git(elsewhere, '-c', 'user.email=u@example.com', '-c', 'user.name=u', 'commit', '-q', '--allow-empty', '-m', 'user');
    const file = join(elsewhere, 'bench.json');
    const run = spawnSync(process.execPath, [MAIN, ...tiny, '--save', file], {
      cwd: elsewhere, encoding: 'utf8', env: { ...process.env, FLASH_ATTN_COMMIT: '' },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /\| +16 \|/, 'the table is printed');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).commit, ours.stdout.trim());
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});
