// Programmatic dependent launch on a real GPU: each kernel may start while the one before it in the stream runs
// (on Hopper), and waits for that grid before it touches memory. A chain of calls where each reads what the one
// before wrote (tests/cuda/overlap-chain.ts) gives the same answers with FLASH_ATTN_PDL=1 as with FLASH_ATTN_PDL=0, each
// in a process of its own (the setting is read when the device is first used).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { maxError } from '../support/tolerance.js';
import { bitsEqual, gpu, skipReason } from './gpu.js';

const CHAIN = fileURLToPath(new URL('./overlap-chain.js', import.meta.url));

/** The chain's outputs by file name, from a child process run with FLASH_ATTN_PDL=`pdl`. */
function runChain(pdl: '0' | '1', mode: 'deterministic' | 'default'): { files: Map<string, Buffer>; device: { computeCapability: number[]; canOverlapLaunches: boolean } } {
  const dir = mkdtempSync(join(tmpdir(), `flash-overlap-${pdl}-`));
  try {
    const ran = spawnSync(process.execPath, [CHAIN, dir, mode, 'cuda', '1536'], { env: { ...process.env, FLASH_ATTN_PDL: pdl }, encoding: 'utf8' });
    assert.equal(ran.status, 0, `the chain with FLASH_ATTN_PDL=${pdl}: ${ran.stderr}`);
    const files = new Map<string, Buffer>();
    for (const name of readdirSync(dir)) if (name.endsWith('.bin')) files.set(name, readFileSync(join(dir, name)));
    return { files, device: JSON.parse(readFileSync(join(dir, 'device.json'), 'utf8')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Largest |a - b| over the largest |b|, of two float32 arrays. */
function relativeError(a: Buffer, b: Buffer): number {
  const [x, y] = [a, b].map((buf) => new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
  return maxError(x, y) / y.reduce((m, value) => Math.max(m, Math.abs(value)), 0);
}

test('on compute capability 9.0 and newer the device can overlap launches unless FLASH_ATTN_PDL=0', { skip: skipReason }, () => {
  const device = gpu();
  const expected = device.computeCapability[0] >= 9 && process.env.FLASH_ATTN_PDL !== '0';
  assert.equal(device.canOverlapLaunches, expected);
});

test('a chain of dependent calls gives the same bits with overlapping launches as without', { skip: skipReason }, (t) => {
  for (const mode of ['deterministic', 'default'] as const) {
    const overlapped = runChain('1', mode);
    assert.equal(overlapped.device.canOverlapLaunches, overlapped.device.computeCapability[0] >= 9, 'FLASH_ATTN_PDL=1 reached the child');
    // Below compute capability 9.0 both runs launch plainly: the comparison would prove nothing about overlap.
    if (!overlapped.device.canOverlapLaunches) {
      t.skip('this device cannot overlap launches: nothing to compare');
      return;
    }
    const plain = runChain('0', mode);
    assert.equal(plain.device.canOverlapLaunches, false, 'FLASH_ATTN_PDL=0 reached the child');
    assert.equal(overlapped.files.size, 8 * 5, `${mode}: eight steps of out, lse, dq, dk, dv`);
    assert.deepEqual([...overlapped.files.keys()].sort(), [...plain.files.keys()].sort());
    for (const [name, bytes] of overlapped.files) {
      const reference = plain.files.get(name) as Buffer;
      if (mode === 'default' && name.endsWith('-dq.bin')) {
        // dq is summed by reductions in whatever order they land: equal up to the rounding of sums that differ in
        // their last bits; a kernel that read dq_accum early or unzeroed would be off by far more.
        const error = relativeError(bytes, reference);
        assert.ok(error < 2 ** -6, `${mode} ${name}: off by ${error} of its largest element`);
      } else {
        assert.ok(bitsEqual(bytes, reference), `${mode} ${name}`);
      }
    }
  }
});
