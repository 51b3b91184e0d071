import { backendOfDevice } from '../backend.js';
import { parseDevice } from '../device.js';
import { DeviceError, DisposedError, DtypeError, OptionError, ShapeError, describe } from '../errors.js';
import { checkOptionKeys, optionOr } from '../options.js';
import { disposals, disposeOnThrow, releaseAfterError, releaseAll, thenRelease } from '../release.js';
import type { Storage } from '../storage.js';
import { Tensor, checkDevice, checkShape, checkTensor } from '../tensor.js';
import { hostRingOps } from './host-ops.js';
import { LAYOUTS, type SequenceLayout, chunkCount, segmentsOf } from './layout.js';
import { type RingSteps, runAsync, runSync } from './drive.js';
import { DistributedError } from './errors.js';
import type { RingGroup } from './group.js';
import { ringOpsFor } from './ops.js';
import { blockSource } from './schedule.js';
import { isAsyncTransport } from './transport.js';

export interface ShardOptions {
  /** 'contiguous' (default) or 'zigzag' (balances causal work; device i holds chunks i and 2W-1-i). */
  layout?: SequenceLayout;
  /** The axis to cut; default 1, the length axis of [n, l, h, d]. lse [n, h, lq] is cut along axis 2. */
  axis?: number;
  /**
   * A ring across processes (from joinRing): `devices` must be the group's devices, and the result holds
   * only this process's shards, cut at the positions of its global ranks in the ring of group.worldSize.
   */
  group?: RingGroup;
}
const SHARD_OPTION_NAMES = ['layout', 'axis', 'group'];

/**
 * A tensor cut along its sequence axis over several devices (ranks). Rank i holds `shards[i]` on
 * `devices[i]`: for 'contiguous', global chunk i; for 'zigzag', chunks i and 2W-1-i, concatenated in that
 * order. `shape` is the global shape. The sharded tensor owns its shards.
 *
 * With a `group` (a ring across processes), `shards` are only this process's: shard i belongs to global
 * rank `ranks[i]` of a ring of `worldSize` ranks, and the other shards live in other processes.
 */
export class ShardedTensor {
  readonly shape: readonly number[];
  readonly dtype: Tensor['dtype'];
  readonly devices: readonly string[];
  readonly layout: SequenceLayout;
  /** The axis that is cut: 1 for q, k, v, out and gradients; 2 for lse [n, h, lq]. */
  readonly axis: number;
  readonly shards: readonly Tensor[];
  /** The ring across processes this tensor is part of; undefined when this process holds every shard. */
  readonly group: RingGroup | undefined;

  /** @internal Use shardSequence() or fromLocalShards(). */
  constructor(shards: readonly Tensor[], shape: readonly number[], layout: SequenceLayout, axis: number, group?: RingGroup) {
    this.group = group;
    this.shards = Object.freeze([...shards]);
    this.shape = Object.freeze([...shape]);
    this.dtype = shards[0].dtype;
    this.devices = Object.freeze(shards.map((s) => s.device));
    this.layout = layout;
    this.axis = axis;
    Object.freeze(this);  // as a Tensor is: its fields are what every check reads
  }

  /** Ranks in the whole ring (all processes); shards.length when this process holds them all. */
  get worldSize(): number {
    return this.group?.worldSize ?? this.shards.length;
  }

  /** The global rank of each local shard. */
  get ranks(): readonly number[] {
    return this.group?.ranks ?? this.shards.map((_, i) => i);
  }

  get isDisposed(): boolean {
    return this.shards.some((s) => s.isDisposed);
  }

  /** Disposes every shard, even after one fails to (then throws that first error): one failure leaks no other shard. */
  dispose(): void {
    releaseAll(disposals(this.shards));
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    const where = this.group ? ` (ranks ${describe([...this.ranks])} of ${this.worldSize})` : '';
    return `ShardedTensor(${describe([...this.shape])}, ${this.dtype}, ${this.layout} over ${describe([...this.devices])}${where})`;
  }
}

/** Canonical names of the ring's devices: a non-empty list, all of one kind (a device may repeat). */
export function checkDevices(devices: unknown, argument = 'devices'): string[] {
  if (!Array.isArray(devices) || devices.length === 0) {
    throw new DeviceError(`${argument}: expected a non-empty array of device names, got ${describe(devices)}`);
  }
  // Array.from visits the holes of a sparse array too (map would skip them), and each name is checked as devices[i].
  const names = Array.from(devices, (d, i) => checkDevice(d, `${argument}[${i}]`));
  const kind = parseDevice(names[0]).kind;
  const other = names.find((d) => parseDevice(d).kind !== kind);
  if (other !== undefined) {
    throw new DeviceError(`${argument}: expected devices of one kind (${describe(names[0])} is ${kind}), got ${describe(other)}`);
  }
  return names;
}

function checkLayout(layout: unknown): SequenceLayout {
  if (!(LAYOUTS as readonly unknown[]).includes(layout)) {
    throw new OptionError(`layout: expected 'contiguous' or 'zigzag', got ${describe(layout)}`);
  }
  return layout as SequenceLayout;
}

/** Checks that `length` splits into the layout's chunks, naming the argument otherwise. */
export function checkDivisible(argument: string, axis: number, length: number, layout: SequenceLayout, worldSize: number): void {
  const chunks = chunkCount(layout, worldSize);
  if (length % chunks !== 0) {
    throw new ShapeError(
      `${argument}: expected the length (axis ${axis}) to be divisible by ${chunks}, the number of chunks of the ` +
        `${layout} layout over ${worldSize} device(s), got ${length}`,
    );
  }
}

/**
 * Cuts `t` along its sequence axis over `devices`, one shard per device (like placing an array with a
 * JAX NamedSharding over a 1-D mesh). The length must be divisible by the layout's chunk count (W, or 2W
 * for zigzag). `t` must be on the CPU or on devices of the same kind; it is not consumed.
 */
export function shardSequence(t: Tensor, devices: readonly string[], options: ShardOptions = {}): ShardedTensor {
  checkTensor(t, 't');
  const names = checkDevices(devices);
  checkOptionKeys(options, SHARD_OPTION_NAMES);
  const layout = checkLayout(optionOr(options.layout, 'contiguous'));
  const axis = optionOr(options.axis, 1);
  if (!Number.isInteger(axis) || axis < 0 || axis >= t.shape.length) {
    throw new OptionError(`axis: expected an integer in 0..${t.shape.length - 1} (an axis of t), got ${describe(axis)}`);
  }
  const group = checkGroup(options.group, names);
  const ranks = group?.ranks ?? names.map((_, i) => i);
  const w = group?.worldSize ?? names.length;
  const length = t.shape[axis];
  checkDivisible('t', axis, length, layout, w);

  const sourceKind = parseDevice(t.device).kind;
  const targetKind = parseDevice(names[0]).kind;
  if (sourceKind !== 'cpu' && sourceKind !== targetKind) {
    throw new DeviceError(`t: expected a tensor on the CPU or on ${targetKind} devices, got one on ${describe(t.device)}`);
  }
  const ops = sourceKind === 'cpu' ? hostRingOps : ringOpsFor(sourceKind);
  const source = t.storage('t');
  const shardShape = t.shape.map((s, i) => (i === axis ? length / w : s));
  // A failure on a later rank releases the shards already made (and the parts of the rank it failed on).
  const shards = disposeOnThrow((keepShard) =>
    names.map((device, rank) => {
      // Cut on the source's side; a CPU tensor headed for another kind of device is uploaded afterwards.
      const stagingDevice = sourceKind === targetKind ? device : t.device;
      const segments = segmentsOf(layout, w, ranks[rank], length);
      const parts = disposeOnThrow((keep) => segments.map((s) => keep(ops.slice(source, t.shape, axis, s.start, s.length, stagingDevice))));
      const shapes = segments.map((s) => t.shape.map((x, i) => (i === axis ? s.length : x)));
      const shard = parts.length === 1
        ? parts[0]
        : thenRelease(() => ops.concat(parts, shapes, axis, stagingDevice), () => disposals(parts));
      return keepShard(new Tensor(sourceKind === targetKind ? shard : uploadHost(shard, device), shardShape));
    }),
  );
  return new ShardedTensor(shards, t.shape, layout, axis, group);
}

function checkGroup(group: unknown, devices: readonly string[]): RingGroup | undefined {
  if (group === undefined) return undefined;
  const g = group as Partial<RingGroup>;
  if (typeof group !== 'object' || group === null || !Array.isArray(g.devices) || !Array.isArray(g.ranks) || typeof g.worldSize !== 'number') {
    throw new OptionError(`group: expected a RingGroup from joinRing, got ${describe(group)}`);
  }
  if (g.isDisposed) throw new DisposedError('group: the ring group was disposed');
  if (g.devices.length !== devices.length || g.devices.some((d, i) => d !== devices[i])) {
    throw new DeviceError(`devices: expected the group's devices ${describe([...g.devices])}, got ${describe([...devices])}`);
  }
  return group as RingGroup;
}

/**
 * A sharded tensor from shards this process already holds (each process made only its own part of the
 * sequence, as with jax.make_array_from_single_device_arrays). `shards[i]` must be global rank i's (or,
 * with a group, rank group.ranks[i]'s) positions for `layout`, on `devices[i]`; `shape` is the global
 * shape. Takes ownership of the shards.
 */
export function fromLocalShards(shards: readonly Tensor[], shape: readonly number[], options: ShardOptions = {}): ShardedTensor {
  if (!Array.isArray(shards) || shards.length === 0) throw new ShapeError(`shards: expected a non-empty array of tensors, got ${describe(shards)}`);
  // An index loop, not forEach: a hole in a sparse array is a missing shard, named like any other non-tensor.
  for (let i = 0; i < shards.length; i++) checkTensor(shards[i], `shards[${i}]`);
  // One tensor at two ranks would be one rank's data read as another's, and freed twice by dispose.
  const first = shards.findIndex((t, i) => shards.indexOf(t) !== i);
  if (first >= 0) {
    throw new ShapeError(`shards[${first}]: the same tensor as shards[${shards.indexOf(shards[first])}]; each rank needs its own`);
  }
  const names = checkDevices(shards.map((t) => t.device), 'shards');
  // The global shape before the axis that indexes it: NaN, negative or missing sizes would otherwise surface as a
  // shard of a nonsensical "expected shape", or as an axis error.
  checkShape(shape);
  checkOptionKeys(options, SHARD_OPTION_NAMES);
  const layout = checkLayout(optionOr(options.layout, 'contiguous'));
  const axis = optionOr(options.axis, 1);
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) {
    throw new OptionError(`axis: expected an integer in 0..${shape.length - 1} (an axis of shape), got ${describe(axis)}`);
  }
  const group = checkGroup(options.group, names);
  const w = group?.worldSize ?? names.length;
  checkDivisible('shape', axis, shape[axis], layout, w);
  const expected = shape.map((x, i) => (i === axis ? x / w : x));
  (shards as readonly Tensor[]).forEach((t, i) => {
    if (t.shape.length !== expected.length || t.shape.some((x, j) => x !== expected[j])) {
      throw new ShapeError(`shards[${i}]: expected shape ${describe(expected)} (the global shape cut ${w} ways), got ${describe([...t.shape])}`);
    }
    if (t.dtype !== shards[0].dtype) throw new DtypeError(`shards[${i}]: expected dtype ${describe(shards[0].dtype)} (as shards[0]), got ${describe(t.dtype)}`);
  });
  return new ShardedTensor(shards, shape, layout, axis, group);
}

function uploadHost(host: Storage, device: string): Storage {
  const array = (host as { array?: unknown }).array;
  if (!(array instanceof Float32Array || array instanceof Uint16Array)) {
    throw new DeviceError(`t: expected CPU data to upload to ${describe(device)}`);
  }
  return backendOfDevice(device).upload(array, host.dtype, device);
}

/** Checks a value is a live ShardedTensor, naming the argument otherwise. */
export function checkSharded(value: unknown, argument: string): ShardedTensor {
  if (!(value instanceof ShardedTensor)) {
    throw new ShapeError(`${argument}: expected a ShardedTensor (from shardSequence), got ${describe(value)}`);
  }
  if (value.isDisposed) throw new DisposedError(`${argument}: a shard was disposed; the sharded tensor cannot be used`);
  return value;
}

/**
 * Joins a sharded tensor back into one tensor, in global order, on the first device of its list (call
 * `.to(device)` for another). The sharded tensor is not consumed. A tensor of a ring across processes is
 * all-gathered through the group's transport, so every process must call it; over an asynchronous (TCP)
 * transport that is gatherSequenceAsync.
 */
export function gatherSequence(s: ShardedTensor): Tensor {
  checkSharded(s, 's');
  if (!s.group) return joinShards(s, (rank) => s.shards[rank].storage('s'));
  if (isAsyncTransport(s.group.transport)) {
    throw new DistributedError('s: its shards are spread over processes connected by TCP; gather it with await gatherSequenceAsync(s) on every process');
  }
  return runSync(allGatherSteps(s));
}

/** gatherSequence for any sharded tensor, awaiting the transfers of a ring across processes. */
export async function gatherSequenceAsync(s: ShardedTensor): Promise<Tensor> {
  checkSharded(s, 's');
  if (!s.group) return gatherSequence(s);
  return runAsync(allGatherSteps(s));
}

/**
 * Every local rank passes its shard around the ring for W - 1 steps (the ring's own transfers); the
 * first local rank sees every rank's shard go by and joins them on its device.
 */
function* allGatherSteps(s: ShardedTensor): RingSteps<Tensor> {
  const group = s.group!;
  if (group.isDisposed) throw new DisposedError('s: its ring group was disposed');
  const w = group.worldSize;
  const ranks = group.ranks;
  const byRank = new Map<number, Storage>(ranks.map((r, i) => [r, s.shards[i].storage('s')]));
  const received: Storage[] = [];
  const releaseReceived = () => disposals(received);
  let blocks: Storage[][] = s.shards.map((t) => [t.storage('s')]);
  let joined: Tensor;
  try {
    for (let step = 1; step < w; step++) {
      blocks = yield group.transport.begin(blocks);
      for (const b of blocks) received.push(...b);
      const source = blockSource(ranks[0], step, w);
      if (!byRank.has(source)) byRank.set(source, blocks[0][0]);
    }
    joined = joinShards(s, (rank) => byRank.get(rank)!);
  } catch (error) {
    // Every received block is freed, and a free that fails too only warns: the transfer's error names the cause.
    releaseAfterError(releaseReceived());
    throw error;
  }
  try {
    releaseAll(releaseReceived());
  } catch (error) {
    releaseAfterError(disposals([joined]));
    throw error;
  }
  return joined;
}

/** The whole tensor from every global rank's shard storage, joined on the first local device. */
function joinShards(s: ShardedTensor, shardOf: (rank: number) => Storage): Tensor {
  const kind = parseDevice(s.devices[0]).kind;
  const ops = ringOpsFor(kind);
  const w = s.worldSize;
  const length = s.shape[s.axis];
  const shardShape = s.shards[0].shape;
  const pieces: { start: number; part: Storage; owned: boolean; shape: number[] }[] = [];
  // The cut pieces are this function's own, joined or not.
  const release = () => disposals(pieces.filter((p) => p.owned).map((p) => p.part));
  return thenRelease(() => {
    for (let rank = 0; rank < w; rank++) {
      const shard = shardOf(rank);
      const segments = segmentsOf(s.layout, w, rank, length);
      for (const seg of segments) {
        const shape = s.shape.map((x, i) => (i === s.axis ? seg.length : x));
        const whole = segments.length === 1;
        const part = whole ? shard : ops.slice(shard, shardShape, s.axis, seg.offsetInShard, seg.length, shard.device);
        pieces.push({ start: seg.start, part, owned: !whole, shape });
      }
    }
    pieces.sort((a, b) => a.start - b.start);
    return new Tensor(ops.concat(pieces.map((p) => p.part), pieces.map((p) => p.shape), s.axis, s.devices[0]), s.shape);
  }, release);
}
