// When one of the ring's own device operations (a slice, a fill, a cast) fails partway through building a
// result, the storages already made for that result are released: on a GPU no caller could free them. Host
// ops that remember what they made and fail at a chosen call check it on CPU ranks, for every call that fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backendFor } from '../../src/backend.js';
import '../../src/index.js';
import { ringBackward } from '../../src/ring/backward.js';
import { SegmentCuts } from '../../src/ring/calls.js';
import { CopyTransport } from '../../src/ring/copy-transport.js';
import { ringForward } from '../../src/ring/forward.js';
import { hostRingOps } from '../../src/ring/host-ops.js';
import { segmentsOf } from '../../src/ring/layout.js';
import type { RingDeviceOps } from '../../src/ring/ops.js';
import type { RingPlan } from '../../src/ring/schedule.js';
import { HostStorage, type Storage } from '../../src/storage.js';
import { FAILURE_RINGS, type FailureRing, cpuDevices, failureShards } from './support.js';

class Made extends HostStorage {
  disposed = false;
  override dispose(): void {
    this.disposed = true;
  }
}

type Failing = 'slice' | 'filled' | 'cast';

/** hostRingOps failing the `failAt`-th call of `op`; remembers every storage slice, filled and cast made. */
function failingOps(op: Failing, failAt: number): { ops: RingDeviceOps; leaked(): number } {
  const made: Made[] = [];
  let calls = 0;
  const make = (name: Failing, run: () => Storage): Storage => {
    if (name === op && ++calls === failAt) throw new Error(`injected ${op} failure`);
    const s = run() as HostStorage;
    const tracked = new Made(s.device, s.dtype, s.array);
    made.push(tracked);
    return tracked;
  };
  const ops: RingDeviceOps = {
    ...hostRingOps,
    slice: (...args) => make('slice', () => hostRingOps.slice(...args)),
    filled: (...args) => make('filled', () => hostRingOps.filled(...args)),
    cast: (...args) => make('cast', () => hostRingOps.cast(...args)),
  };
  return { ops, leaked: () => made.filter((s) => !s.disposed).length };
}

function planOf(ring: FailureRing, ops: RingDeviceOps): RingPlan {
  const devices = cpuDevices(ring.w);
  const copy = (s: Storage, device: string) => new HostStorage(device, s.dtype, (s as HostStorage).array.slice());
  return { problem: ring.problem, layout: ring.layout, devices, backend: backendFor('cpu'), ops, transport: new CopyTransport(devices, copy) };
}

/** Fails the 1st, 2nd, ... call of `op` in `run` until a run gets through; each failed run must leave nothing made. */
function sweep(label: string, op: Failing, run: (ops: RingDeviceOps) => void): number {
  for (let failAt = 1; ; failAt++) {
    const { ops, leaked } = failingOps(op, failAt);
    try {
      run(ops);
      return failAt - 1;
    } catch (error) {
      assert.match((error as Error).message, new RegExp(`injected ${op} failure`), label);
    }
    assert.equal(leaked(), 0, `${label}: ${op} failing at call ${failAt} left storages unreleased`);
  }
}

test('SegmentCuts: a slice failing on the second storage releases the first', () => {
  const { ops, leaked } = failingOps('slice', 2);
  const whole = () => new HostStorage('cpu:0', 'float32', new Float32Array(16 * 8));
  const cuts = new SegmentCuts(ops, [whole(), whole()], [{ shape: [1, 16, 1, 8], axis: 1 }, { shape: [1, 16, 1, 8], axis: 1 }], segmentsOf('zigzag', 2, 0, 32), 'cpu:0');
  assert.throws(() => cuts.of([0, 1]), /injected slice failure/);
  assert.equal(leaked(), 0);
});

test('ring forward and backward: a slice, fill or cast failing at any call leaves nothing they made', () => {
  for (const ring of FAILURE_RINGS) {
    const { problem: g } = ring;
    const [q, k, v, dout] = [failureShards(ring, g.lq, g.h, 1), failureShards(ring, g.lk, g.hk, 2), failureShards(ring, g.lk, g.hk, 3), failureShards(ring, g.lq, g.h, 4)];
    const fwd = ringForward(planOf(ring, hostRingOps), q, k, v);
    const label = `${ring.layout} W=${ring.w} lq=${g.lq} lk=${g.lk}`;
    for (const op of ['slice', 'filled', 'cast'] as const) {
      const failed = [
        sweep(`forward ${label}`, op, (ops) => void ringForward(planOf(ring, ops), q, k, v)),
        sweep(`backward ${label}`, op, (ops) => void ringBackward(planOf(ring, ops), { dout, q, k, v, out: fwd.out, lse: fwd.lse })),
      ];
      // Every ring here casts and fills; only the zigzag one cuts segments.
      if (op !== 'slice' || ring.layout === 'zigzag') assert.ok(failed.every((n) => n > 0), `${label}: ${op} was called (${failed})`);
    }
  }
});
