// When an attention call fails in the middle of a ring step, the loops finish the transfers they had begun
// (on a GPU, that orders the streams before the buffers those transfers read are freed) and release what the
// transfers brought. A transport that counts what it delivered and what was released checks both, on CPU ranks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttentionProblem, Backend } from '../../src/backend.js';
import { backendFor } from '../../src/backend.js';
import { encodeArray } from '../../src/dtype.js';
import '../../src/index.js';
import { ringBackward } from '../../src/ring/backward.js';
import { ringForward } from '../../src/ring/forward.js';
import { hostRingOps } from '../../src/ring/host-ops.js';
import type { RingPlan } from '../../src/ring/schedule.js';
import type { Block, InFlight, RingTransport } from '../../src/ring/transport.js';
import { HostStorage, type Storage } from '../../src/storage.js';
import { normalSamples } from '../../src/tensor.js';
import { cpuDevices } from './support.js';

class Delivered extends HostStorage {
  disposed = false;
  override dispose(): void {
    this.disposed = true;
  }
}

/** Copies blocks to the next rank like CopyTransport, remembering every transfer and every storage it delivered. */
class CountingTransport implements RingTransport {
  readonly delivered: Delivered[] = [];
  begun = 0;
  finished = 0;
  constructor(readonly devices: readonly string[]) {}

  begin(blocks: readonly Block[]): InFlight {
    this.begun++;
    const w = this.devices.length;
    const received: Storage[][] = blocks.map(() => []);
    blocks.forEach((block, rank) => {
      const next = (rank + 1) % w;
      received[next] = block.map((s) => {
        const copy = new Delivered(this.devices[next], s.dtype, (s as HostStorage).array.slice());
        this.delivered.push(copy);
        return copy;
      });
    });
    return {
      finish: () => {
        this.finished++;
        return received;
      },
    };
  }

  dispose(): void {}

  [Symbol.dispose](): void {}
}

/** The CPU backend, failing its `failAt`-th forward and backward call. */
function failingBackend(failAt: number): Backend {
  const cpu = backendFor('cpu');
  let calls = 0;
  const fail = () => {
    if (++calls === failAt) throw new Error('injected failure');
  };
  return {
    ...cpu,
    forward: (...args: Parameters<Backend['forward']>) => (fail(), cpu.forward(...args)),
    backward: (...args: Parameters<Backend['backward']>) => (fail(), cpu.backward(...args)),
  };
}

const W = 3;
const L = 48;
const problem: AttentionProblem = {
  n: 1, lq: L, lk: L, h: 2, hk: 1, d: 8, dtype: 'float32', device: 'cpu:0', softmaxScale: 0.35, outDtype: 'float32',
  deterministic: false, windowLeft: -1, windowRight: 0, diagonalOffset: 0,
};

function shards(heads: number, seed: number): Storage[] {
  return cpuDevices(W).map((device, r) => new HostStorage(device, 'float32', encodeArray(normalSamples((L / W) * heads * 8, seed * 10 + r), 'float32')));
}

function planWith(backend: Backend, transport: CountingTransport): RingPlan {
  return { problem, layout: 'zigzag', devices: cpuDevices(W), backend, ops: hostRingOps, transport };
}

const released = (t: CountingTransport) => t.delivered.every((s) => s.disposed);

test('a forward call failing mid-step: every begun transfer is finished and what it delivered is released', () => {
  // Zigzag causal at W = 3: each rank makes 3 calls at step 0 (its own block), 9 in all, so the 10th call is
  // rank 0's first of step 1, while step 1's transfer is open.
  const transport = new CountingTransport(cpuDevices(W));
  const [q, k, v] = [shards(2, 1), shards(1, 2), shards(1, 3)];
  assert.throws(() => ringForward(planWith(failingBackend(10), transport), q, k, v), /injected failure/);
  assert.equal(transport.begun, 2);
  assert.equal(transport.finished, transport.begun);
  assert.ok(released(transport), 'every delivered block released');
});

test('a backward call failing mid-step: open K/V and gradient transfers are finished and released', () => {
  const ok = new CountingTransport(cpuDevices(W));
  const [q, k, v, dout] = [shards(2, 1), shards(1, 2), shards(1, 3), shards(2, 4)];
  const fwd = ringForward(planWith(backendFor('cpu'), ok), q, k, v);
  const transport = new CountingTransport(cpuDevices(W));
  const inputs = { dout, q, k, v, out: fwd.out, lse: fwd.lse };
  // The 10th call is rank 0's first of step 1: the gradients sent after step 0 and step 1's K/V are in flight.
  assert.throws(() => ringBackward(planWith(failingBackend(10), transport), inputs), /injected failure/);
  assert.equal(transport.begun, 3);
  assert.equal(transport.finished, transport.begun);
  assert.ok(released(transport), 'every delivered block and gradient released');
});
