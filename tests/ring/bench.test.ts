import assert from 'node:assert/strict';
import { test } from 'node:test';
import { registerBackend } from '../../src/backend.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { OptionError, ShapeError } from '../../src/errors.js';
import { hostRingOps } from '../../src/ring/host-ops.js';
import type { RingDeviceOps } from '../../src/ring/ops.js';
import { HostStorage, type Storage } from '../../src/storage.js';
import { benchInputs, benchRing } from '../../src/ring/index.js';
import { cpuDevices } from './support.js';

test('benchRing reports consistent figures for a tiny causal zigzag ring', async () => {
  const r = await benchRing({ devices: cpuDevices(2), length: 64, h: 2, d: 16, repeats: 1, backward: true });
  assert.equal(r.worldSize, 2);
  assert.equal(r.pass, 'backward');
  assert.equal(r.flops, (2.5 * 4 * 64 * 64 * 2 * 16) / 2);
  assert.ok(r.singleSeconds > 0 && r.ringWallSeconds > 0 && r.ringParallelSeconds > 0);
  assert.ok(r.ringParallelSeconds <= r.ringWallSeconds);
  assert.ok(Math.abs(r.scalingEfficiency - r.singleSeconds / (2 * r.ringParallelSeconds)) < 1e-12);
  assert.equal(r.imbalance, 1); // zigzag balances causal work exactly
});

test('benchRing warms up until spinUpMs have passed, not with warmup 0, and refuses a bad spinUpMs', async () => {
  const tiny = { devices: cpuDevices(2), length: 64, h: 2, d: 16, repeats: 1 };
  const started = performance.now();
  await benchRing({ ...tiny, warmup: 1, spinUpMs: 300 });
  assert.ok(performance.now() - started >= 300, 'the warm-up lasted spinUpMs');
  await assert.rejects(benchRing({ ...tiny, spinUpMs: -1 }), (e: unknown) => e instanceof OptionError && /^spinUpMs: expected/.test(e.message));
});

test('benchRing refuses inputs that are not the problem its options describe', async () => {
  const inputs = benchInputs('cpu:0', { n: 1, length: 64, h: 2, hk: 2, d: 16, dtype: 'float32' });
  await assert.rejects(benchRing({ devices: cpuDevices(2), length: 64, h: 2, d: 8, repeats: 1, inputs }), ShapeError);
  for (const t of Object.values(inputs)) t.dispose();
});

test('benchInputs repeats its 4096-row tile along the sequence, different per batch item, in every dtype', async () => {
  const [n, length, h, d] = [2, 4096 + 37, 1, 4];
  const row = h * d;
  for (const dtype of ['float32', 'bfloat16'] as const) {
    const inputs = benchInputs('cpu:0', { n, length, h, hk: h, d, dtype });
    const q = await inputs.q.data();
    assert.equal(q.length, n * length * row);
    for (let b = 0; b < n; b++) {
      const at = (r: number) => Array.from(q.subarray((b * length + r) * row, (b * length + r + 1) * row));
      for (const r of [4096, 4100, length - 1]) assert.deepEqual(at(r), at(r - 4096), `${dtype} batch ${b} row ${r}`);
      assert.notDeepEqual(at(1), at(0), `${dtype} batch ${b}: rows differ inside the tile`);
    }
    const first = Array.from(q.subarray(0, length * row)), second = Array.from(q.subarray(length * row));
    assert.notDeepEqual(first, second, `${dtype}: the batch items differ`);
    for (const t of Object.values(inputs)) t.dispose();
  }
});

/** A host storage that remembers whether it was disposed. */
class Tracked extends HostStorage {
  disposed = false;
  override dispose(): void {
    this.disposed = true;
  }
}

/**
 * Runs `body` with the cpu backend and the host ring ops making only Tracked storages (listed in `made`), the
 * ring's casts failing at call `failAt` (0: never); restores both afterwards.
 */
async function withTrackedCpu(failAt: number, body: (made: Tracked[]) => Promise<void>): Promise<void> {
  const made: Tracked[] = [];
  const track = (s: Storage): Storage => {
    const t = new Tracked(s.device, s.dtype, (s as HostStorage).array);
    made.push(t);
    return t;
  };
  const trackAll = <T extends object>(result: T): T =>
    Object.fromEntries(Object.entries(result).map(([name, s]) => [name, track(s as Storage)])) as T;
  const saved = { ...hostRingOps };
  let casts = 0;
  Object.assign(hostRingOps, {
    slice: (...args: Parameters<RingDeviceOps['slice']>) => track(saved.slice(...args)),
    concat: (...args: Parameters<RingDeviceOps['concat']>) => track(saved.concat(...args)),
    filled: (...args: Parameters<RingDeviceOps['filled']>) => track(saved.filled(...args)),
    cast: (...args: Parameters<RingDeviceOps['cast']>) => {
      if (++casts === failAt) throw new Error('injected cast failure');
      return track(saved.cast(...args));
    },
  });
  registerBackend({
    ...cpuBackend,
    upload: (...args) => track(cpuBackend.upload(...args)),
    forward: (...args) => trackAll(cpuBackend.forward(...args)),
    backward: (...args) => trackAll(cpuBackend.backward(...args)),
  });
  try {
    await body(made);
  } finally {
    Object.assign(hostRingOps, saved);
    registerBackend(cpuBackend);
  }
}

test('benchRing: a ring call failing at any point leaves nothing it made undisposed, and given inputs to their owner', async () => {
  const tiny = { devices: cpuDevices(2), length: 32, h: 2, d: 8, repeats: 1, warmup: 1 };
  const given = benchInputs('cpu:0', { n: 1, length: 32, h: 2, hk: 2, d: 8, dtype: 'float32' });
  for (const backward of [false, true]) {
    for (const inputs of [undefined, given]) {
      const label = `${backward ? 'backward' : 'forward'}, inputs ${inputs ? 'given' : 'made'}`;
      for (let failAt = 1; ; failAt++) {
        let failed = false;
        await withTrackedCpu(failAt, async (made) => {
          try {
            await benchRing({ ...tiny, backward, inputs });
          } catch (error) {
            assert.match((error as Error).message, /injected cast failure/, label);
            failed = true;
          }
          assert.deepEqual(made.filter((t) => !t.disposed).length, 0, `${label}: cast ${failAt} failing left storages undisposed`);
        });
        if (!failed) {
          assert.ok(failAt > 3, `${label}: the ring cast in several runs (${failAt - 1})`);
          break;
        }
      }
      assert.ok(Object.values(given).every((t) => !t.isDisposed), `${label}: the given inputs stay usable`);
    }
  }
  for (const t of Object.values(given)) t.dispose();
});
