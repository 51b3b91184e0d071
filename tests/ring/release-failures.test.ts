// When releasing a storage fails too (on a GPU after a fault, every free does), the ring loops still try to release
// every storage they made, and the error the caller sees is the one that caused the failure, not a release's. On
// a clean run whose releases fail, the failing release is the error and the results are released with the rest.
// CPU ranks whose every made storage (attention outputs, slices, fills, casts, transferred blocks) counts its
// releases and can fail them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { backendFor } from '../../src/backend.js';
import '../../src/index.js';
import { ringBackward, ringBackwardAsync } from '../../src/ring/backward.js';
import { ringForward, ringForwardAsync } from '../../src/ring/forward.js';
import { hostRingOps } from '../../src/ring/host-ops.js';
import type { RingDeviceOps } from '../../src/ring/ops.js';
import type { RingPlan } from '../../src/ring/schedule.js';
import type { Block, InFlight, RingTransport } from '../../src/ring/transport.js';
import { HostStorage, type Storage } from '../../src/storage.js';
import { FAILURE_RINGS, type FailureRing, cpuDevices, failureShards } from './support.js';

interface Injected {
  /** The backend's forward or backward call that fails (1-based), if any. */
  failCall?: number;
  /** The transfer whose finish fails (1-based), if any. */
  failFinish?: number;
  /**
   * When releases throw (after counting the attempt): never, from the injected failure on (as every call does on a
   * GPU whose context a fault broke), or always.
   */
  releasesFail: 'never' | 'afterFailure' | 'always';
}

/** A storage the ring made: counts its releases, and fails them while `failing()` says so. */
class Made extends HostStorage {
  releases = 0;
  constructor(s: Storage, private readonly failing: () => boolean) {
    super(s.device, s.dtype, (s as HostStorage).array);
  }

  override dispose(): void {
    this.releases++;
    if (this.failing()) throw new Error('injected release failure');
  }
}

/** Hands blocks to the next rank; the copies are made when the transfer finishes, so a failing finish makes none. */
class LateCopyTransport implements RingTransport {
  #finishes = 0;
  constructor(
    readonly devices: readonly string[],
    private readonly copy: (s: Storage, device: string) => Storage,
    private readonly failFinish: number | undefined,
    private readonly fail: (error: Error) => never,
  ) {}

  begin(blocks: readonly Block[]): InFlight {
    const w = this.devices.length;
    return {
      finish: () => {
        if (++this.#finishes === this.failFinish) this.fail(new Error('injected transfer failure'));
        const received: Storage[][] = blocks.map(() => []);
        blocks.forEach((block, rank) => (received[(rank + 1) % w] = block.map((s) => this.copy(s, this.devices[(rank + 1) % w]))));
        return received;
      },
    };
  }

  dispose(): void {}

  [Symbol.dispose](): void {}
}

/** A plan over CPU ranks whose backend, ops and transport make only Made storages, and `made` lists them all. */
function harness(ring: FailureRing, injected: Injected): { plan: RingPlan; made: Made[] } {
  const made: Made[] = [];
  let broken = false;
  const fail = (error: Error): never => {
    broken = true;
    throw error;
  };
  const failing = () => injected.releasesFail === 'always' || (injected.releasesFail === 'afterFailure' && broken);
  const track = (s: Storage): Storage => {
    const m = new Made(s, failing);
    made.push(m);
    return m;
  };
  let calls = 0;
  const call = () => {
    if (++calls === injected.failCall) fail(new Error('injected call failure'));
  };
  const cpu = backendFor('cpu');
  const backend: Backend = {
    ...cpu,
    forward: (...args) => (call(), trackAll(cpu.forward(...args), track)),
    backward: (...args) => (call(), trackAll(cpu.backward(...args), track)),
  };
  const ops: RingDeviceOps = {
    ...hostRingOps,
    slice: (...args) => track(hostRingOps.slice(...args)),
    filled: (...args) => track(hostRingOps.filled(...args)),
    cast: (...args) => track(hostRingOps.cast(...args)),
  };
  const devices = cpuDevices(ring.w);
  const copy = (s: Storage, device: string) => track(new HostStorage(device, s.dtype, (s as HostStorage).array.slice()));
  const transport = new LateCopyTransport(devices, copy, injected.failFinish, fail);
  return { plan: { problem: ring.problem, layout: ring.layout, devices, backend, ops, transport }, made };
}

function trackAll<T extends object>(result: T, track: (s: Storage) => Storage): T {
  return Object.fromEntries(Object.entries(result).map(([name, s]) => [name, track(s as Storage)])) as T;
}

type Run = (plan: RingPlan) => unknown;

/** Each ring's forward and backward, run by the synchronous and the asynchronous driver. */
function runsOf(ring: FailureRing): [string, Run][] {
  const { problem: g } = ring;
  const [q, k, v, dout] = [failureShards(ring, g.lq, g.h, 1), failureShards(ring, g.lk, g.hk, 2), failureShards(ring, g.lk, g.hk, 3), failureShards(ring, g.lq, g.h, 4)];
  const fwd = ringForward(harness(ring, { releasesFail: 'never' }).plan, q, k, v);
  const x = { dout, q, k, v, out: fwd.out, lse: fwd.lse };
  const label = `${ring.layout} W=${ring.w}`;
  return [
    [`forward ${label}`, (plan) => ringForward(plan, q, k, v)],
    [`forward async ${label}`, (plan) => ringForwardAsync(plan, q, k, v)],
    [`backward ${label}`, (plan) => ringBackward(plan, x)],
    [`backward async ${label}`, (plan) => ringBackwardAsync(plan, x)],
  ];
}

/** Runs `run` on a fresh harness; returns what it threw (undefined when it got through) and what it made. */
async function attempt(ring: FailureRing, run: Run, injected: Injected): Promise<{ error: unknown; made: Made[] }> {
  const { plan, made } = harness(ring, injected);
  const silence = () => undefined;
  // The failing releases are reported as warnings; they are expected here.
  process.on('warning', silence);
  try {
    await run(plan);
    return { error: undefined, made };
  } catch (error) {
    return { error, made };
  } finally {
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', silence);
  }
}

const unreleased = (made: Made[]) => made.filter((s) => s.releases === 0).length;

/**
 * Fails the 1st, 2nd, ... call or transfer (`which`) of every run, with every release after it failing too, until a run
 * gets through: each time the injected failure is the error reported, and every storage made had a release tried.
 */
async function failEachInTurn(which: 'failCall' | 'failFinish', injected: RegExp, atLeast: number, what: string): Promise<void> {
  for (const ring of FAILURE_RINGS) {
    for (const [label, run] of runsOf(ring)) {
      for (let nth = 1; ; nth++) {
        const { error, made } = await attempt(ring, run, { [which]: nth, releasesFail: 'afterFailure' });
        if (error === undefined) {
          assert.ok(nth > atLeast, `${label}: ${what}s were made`);
          break;
        }
        assert.match(String(error), injected, label);
        assert.equal(unreleased(made), 0, `${label}: ${what} ${nth} failing left storages no release was tried on`);
      }
    }
  }
}

test('a call failing at any point, every release failing after it: the call\'s error is reported, and every storage made was released', async () => {
  await failEachInTurn('failCall', /injected call failure/, 2, 'call');
});

test('a transfer failing at any point, every release failing after it: the transfer\'s error is reported, and every storage made was released', async () => {
  await failEachInTurn('failFinish', /injected transfer failure/, 1, 'transfer');
});

test('a clean run whose releases fail: the release error is thrown and the results are released with the rest', async () => {
  for (const ring of FAILURE_RINGS) {
    for (const [label, run] of runsOf(ring)) {
      const { error, made } = await attempt(ring, run, { releasesFail: 'always' });
      assert.match(String(error), /injected release failure/, label);
      assert.equal(unreleased(made), 0, `${label}: storages (results among them) no release was tried on`);
    }
  }
});

test('a clean run whose releases succeed releases everything but its results', async () => {
  for (const ring of FAILURE_RINGS) {
    for (const [label, run] of runsOf(ring)) {
      const { plan, made } = harness(ring, { releasesFail: 'never' });
      const result = (await run(plan)) as Record<string, Storage[]>;
      const results = new Set(Object.values(result).flat());
      assert.deepEqual(made.filter((s) => s.releases === 0 && !results.has(s)), [], `${label}: only the results are left`);
      assert.ok([...results].every((s) => (s as Made).releases === 0), `${label}: results are not released`);
    }
  }
});
