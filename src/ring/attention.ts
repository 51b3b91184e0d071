import { type AttentionProblem, backendFor } from '../backend.js';
import { parseDevice } from '../device.js';
import { DeviceError, OptionError, ShapeError, describe } from '../errors.js';
import { type AttentionOptions, attentionProblem, checkBackwardInputs } from '../params.js';
import { Tensor } from '../tensor.js';
import { ringBackward, ringBackwardAsync } from './backward.js';
import { DistributedError } from './errors.js';
import { ringForward, ringForwardAsync } from './forward.js';
import { ringOpsFor } from './ops.js';
import type { RingPlan, RingStats } from './schedule.js';
import { ShardedTensor, checkDivisible, checkSharded } from './sharded.js';
import { type AnyRingTransport, isAsyncTransport } from './transport.js';

export interface ShardedForwardOutputs {
  /** [n, lq, h, d], sharded like q */
  out: ShardedTensor;
  /** [n, h, lq] float32, cut along axis 2 with q's layout over q's devices */
  lse: ShardedTensor;
}

export interface ShardedGradients {
  dq: ShardedTensor;
  dk: ShardedTensor;
  dv: ShardedTensor;
}

/** Whether any argument is sharded (then all must be, the same way). */
export function anySharded(...values: unknown[]): boolean {
  return values.some((x) => x instanceof ShardedTensor);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Checks `t` is sharded exactly like `q` (layout, devices, axis), naming it otherwise. */
function checkLike(t: unknown, name: string, q: ShardedTensor, axis: number): ShardedTensor {
  if (t instanceof Tensor) {
    throw new ShapeError(`${name}: expected a ShardedTensor like q (q is sharded over ${q.worldSize} devices), got an unsharded Tensor; shard it with shardSequence`);
  }
  const s = checkSharded(t, name);
  if (s.layout !== q.layout) {
    throw new OptionError(`${name}: expected layout ${describe(q.layout)} (the layout of q), got ${describe(s.layout)}`);
  }
  if (!sameList(s.devices, q.devices)) {
    throw new DeviceError(`${name}: expected devices ${describe([...q.devices])} (the devices of q), got ${describe([...s.devices])}`);
  }
  if (s.axis !== axis) {
    throw new ShapeError(`${name}: expected to be sharded along axis ${axis}, got axis ${s.axis}`);
  }
  if (s.group !== q.group) {
    throw new DeviceError(`${name}: expected the ring group of q (${q.group ? String(q.group) : 'none'}), got ${s.group ? String(s.group) : 'none'}`);
  }
  return s;
}

/** Validates sharded q, k, v and returns the global problem (per-shard checks reuse the front door). */
function globalProblem(q: unknown, k: unknown, v: unknown, options: AttentionOptions): { problem: AttentionProblem; q: ShardedTensor; k: ShardedTensor; v: ShardedTensor } {
  if (q instanceof Tensor) {
    throw new ShapeError(`q: expected a ShardedTensor because k or v is sharded, got an unsharded Tensor; shard it with shardSequence`);
  }
  const sq = checkSharded(q, 'q');
  if (sq.axis !== 1) throw new ShapeError(`q: expected to be sharded along axis 1, got axis ${sq.axis}`);
  const sk = checkLike(k, 'k', sq, 1);
  const sv = checkLike(v, 'v', sq, 1);
  // Before shard 0's checks, which would name the shards' lengths rather than the ones the caller passed.
  if (sk.shape[1] !== sv.shape[1]) {
    throw new ShapeError(`v: expected lk = ${sk.shape[1]} (as in k), got ${sv.shape[1]}`);
  }
  // Shard 0 has every property the shards share (shape, dtype, kind of device): validate it as a call.
  const local = attentionProblem(sq.shards[0], sk.shards[0], sv.shards[0], options);
  const w = sq.worldSize;
  checkDivisible('q', 1, sq.shape[1], sq.layout, w);
  checkDivisible('k', 1, sk.shape[1], sq.layout, w);
  const [lq, lk] = [sq.shape[1], sk.shape[1]];
  return { problem: { ...local, lq, lk, diagonalOffset: lk - lq, device: sq.devices[0] }, q: sq, k: sk, v: sv };
}

/** Which driver the caller runs the loop with: the synchronous API refuses a transport it cannot wait on. */
type Driver = 'sync' | 'async';

function plan(problem: AttentionProblem, q: ShardedTensor, driver: Driver, stats?: RingStats): RingPlan {
  const kind = parseDevice(q.devices[0]).kind;
  const ops = ringOpsFor(kind);
  const group = q.group;
  if (group?.isDisposed) throw new DistributedError('q: its ring group was disposed');
  if (group && driver === 'sync' && isAsyncTransport(group.transport)) {
    throw new DistributedError(
      'q: sharded over processes connected by TCP, whose blocks arrive asynchronously; call await ringFlashMhaFwdAsync / ringFlashMhaBwdAsync',
    );
  }
  return {
    problem,
    layout: q.layout,
    devices: q.devices,
    ranks: q.ranks,
    worldSize: q.worldSize,
    backend: backendFor(kind),
    ops,
    // A group's transport belongs to the group (reused call after call); a local one to this call.
    transport: group ? borrowed(group.transport) : ops.createTransport(q.devices),
    stats,
  };
}

/** A view of the group's transport whose dispose leaves it alone. */
function borrowed(t: AnyRingTransport): AnyRingTransport {
  const keep = { dispose: () => undefined, [Symbol.dispose]: () => undefined };
  if (isAsyncTransport(t)) return { devices: t.devices, asynchronous: true, begin: (blocks) => t.begin(blocks), ...keep };
  return { devices: t.devices, begin: (blocks) => t.begin(blocks), ...keep };
}

function storages(s: ShardedTensor, name: string) {
  return s.shards.map((t) => t.storage(name));
}

function wrap(parts: ReturnType<typeof ringForward>['out'], globalShape: number[], like: ShardedTensor, axis: number): ShardedTensor {
  const w = like.worldSize;
  const shardShape = globalShape.map((x, i) => (i === axis ? x / w : x));
  return new ShardedTensor(parts.map((s) => new Tensor(s, shardShape)), globalShape, like.layout, axis, like.group);
}

/** Ring attention forward on sharded q, k, v; `stats` (for the benchmark) collects per-step compute time. */
export function ringFlashMhaFwd(q: unknown, k: unknown, v: unknown, options: AttentionOptions = {}, stats?: RingStats): ShardedForwardOutputs {
  const g = globalProblem(q, k, v, options);
  using ringPlan = disposablePlan(plan(g.problem, g.q, 'sync', stats));
  return forwardOutputs(g, ringForward(ringPlan.plan, storages(g.q, 'q'), storages(g.k, 'k'), storages(g.v, 'v')));
}

/**
 * ringFlashMhaFwd for tensors sharded over a ring across processes (shardSequence with a `group`):
 * every process calls it with its own shards, and it resolves with this process's shards of out and lse.
 * Works for every sharded tensor; the synchronous flashMha API works too where the transport is
 * synchronous (one process, or NCCL), but not over TCP.
 */
export async function ringFlashMhaFwdAsync(q: ShardedTensor, k: ShardedTensor, v: ShardedTensor, options: AttentionOptions = {}): Promise<ShardedForwardOutputs> {
  const g = globalProblem(q, k, v, options);
  using ringPlan = disposablePlan(plan(g.problem, g.q, 'async'));
  return forwardOutputs(g, await ringForwardAsync(ringPlan.plan, storages(g.q, 'q'), storages(g.k, 'k'), storages(g.v, 'v')));
}

function forwardOutputs(g: ReturnType<typeof globalProblem>, r: ReturnType<typeof ringForward>): ShardedForwardOutputs {
  const p = g.problem;
  return {
    out: wrap(r.out, [p.n, p.lq, p.h, p.d], g.q, 1),
    lse: wrap(r.lse, [p.n, p.h, p.lq], g.q, 2),
  };
}

/** Ring attention backward on sharded inputs; dq is sharded like q, dk and dv like k and v. */
export function ringFlashMhaBwd(
  dout: unknown,
  q: unknown,
  k: unknown,
  v: unknown,
  out: unknown,
  lse: unknown,
  options: AttentionOptions = {},
  stats?: RingStats,
): ShardedGradients {
  const { g, inputs } = backwardInputs(dout, q, k, v, out, lse, options);
  using ringPlan = disposablePlan(plan(g.problem, g.q, 'sync', stats));
  return gradients(g, ringBackward(ringPlan.plan, inputs));
}

/** ringFlashMhaBwd for tensors sharded over a ring across processes; see ringFlashMhaFwdAsync. */
export async function ringFlashMhaBwdAsync(
  dout: ShardedTensor,
  q: ShardedTensor,
  k: ShardedTensor,
  v: ShardedTensor,
  out: ShardedTensor,
  lse: ShardedTensor,
  options: AttentionOptions = {},
): Promise<ShardedGradients> {
  const { g, inputs } = backwardInputs(dout, q, k, v, out, lse, options);
  using ringPlan = disposablePlan(plan(g.problem, g.q, 'async'));
  return gradients(g, await ringBackwardAsync(ringPlan.plan, inputs));
}

function gradients(g: ReturnType<typeof globalProblem>, r: ReturnType<typeof ringBackward>): ShardedGradients {
  return {
    dq: wrap(r.dq, [...g.q.shape], g.q, 1),
    dk: wrap(r.dk, [...g.k.shape], g.q, 1),
    dv: wrap(r.dv, [...g.v.shape], g.q, 1),
  };
}

/** Validates the backward pass's sharded inputs against q, k, v. */
function backwardInputs(dout: unknown, q: unknown, k: unknown, v: unknown, out: unknown, lse: unknown, options: AttentionOptions) {
  const g = globalProblem(q, k, v, options);
  const p = g.problem;
  const sDout = checkLike(dout, 'dout', g.q, 1);
  const sOut = checkLike(out, 'out', g.q, 1);
  const sLse = checkLike(lse, 'lse', g.q, 2);
  const local = attentionProblem(g.q.shards[0], g.k.shards[0], g.v.shards[0], options);
  checkBackwardInputs(local, sDout.shards[0], sOut.shards[0], sLse.shards[0]);
  for (const [s, name] of [[sDout, 'dout'], [sOut, 'out']] as const) {
    if (s.shape[1] !== p.lq) throw new ShapeError(`${name}: expected lq = ${p.lq} (as in q), got ${s.shape[1]}`);
  }
  if (sLse.shape[2] !== p.lq) throw new ShapeError(`lse: expected lq = ${p.lq} (as in q), got ${sLse.shape[2]}`);
  const inputs = {
    dout: storages(sDout, 'dout'),
    q: storages(g.q, 'q'),
    k: storages(g.k, 'k'),
    v: storages(g.v, 'v'),
    out: storages(sOut, 'out'),
    lse: storages(sLse, 'lse'),
  };
  return { g, inputs };
}

function disposablePlan(p: RingPlan): { plan: RingPlan; [Symbol.dispose](): void } {
  return { plan: p, [Symbol.dispose]: () => p.transport.dispose() };
}
