import { backendFor } from '../backend.js';
import { parseDevice } from '../device.js';
import { DeviceError, DisposedError, OptionError, ShapeError, describe } from '../errors.js';
import type { Storage } from '../storage.js';
import { Tensor, checkDevice, checkTensor } from '../tensor.js';
import { hostRingOps } from './host-ops.js';
import { LAYOUTS, type SequenceLayout, chunkCount, segmentsOf } from './layout.js';
import { ringOpsFor } from './ops.js';

export interface ShardOptions {
  /** 'contiguous' (default) or 'zigzag' (balances causal work; device i holds chunks i and 2W-1-i). */
  layout?: SequenceLayout;
  /** The axis to cut; default 1, the length axis of [n, l, h, d]. lse [n, h, lq] is cut along axis 2. */
  axis?: number;
}

/**
 * A tensor cut along its sequence axis over several devices (ranks). Rank i holds `shards[i]` on
 * `devices[i]`: for 'contiguous', global chunk i; for 'zigzag', chunks i and 2W-1-i, concatenated in that
 * order. `shape` is the global shape. The sharded tensor owns its shards.
 */
export class ShardedTensor {
  readonly shape: readonly number[];
  readonly dtype: Tensor['dtype'];
  readonly devices: readonly string[];
  readonly layout: SequenceLayout;
  /** The axis that is cut: 1 for q, k, v, out and gradients; 2 for lse [n, h, lq]. */
  readonly axis: number;
  readonly shards: readonly Tensor[];

  /** @internal Use shardSequence(). */
  constructor(shards: readonly Tensor[], shape: readonly number[], layout: SequenceLayout, axis: number) {
    this.shards = Object.freeze([...shards]);
    this.shape = Object.freeze([...shape]);
    this.dtype = shards[0].dtype;
    this.devices = Object.freeze(shards.map((s) => s.device));
    this.layout = layout;
    this.axis = axis;
  }

  get worldSize(): number {
    return this.shards.length;
  }

  get isDisposed(): boolean {
    return this.shards.some((s) => s.isDisposed);
  }

  dispose(): void {
    for (const s of this.shards) s.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `ShardedTensor(${describe([...this.shape])}, ${this.dtype}, ${this.layout} over ${describe([...this.devices])})`;
  }
}

/** Canonical names of the ring's devices: a non-empty list, all of one kind (a device may repeat). */
export function checkDevices(devices: unknown, argument = 'devices'): string[] {
  if (!Array.isArray(devices) || devices.length === 0) {
    throw new DeviceError(`${argument}: expected a non-empty array of device names, got ${describe(devices)}`);
  }
  const names = devices.map((d) => checkDevice(d));
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
  const layout = checkLayout(options.layout ?? 'contiguous');
  const axis = options.axis ?? 1;
  if (!Number.isInteger(axis) || axis < 0 || axis >= t.shape.length) {
    throw new OptionError(`axis: expected an integer in 0..${t.shape.length - 1} (an axis of t), got ${describe(axis)}`);
  }
  const w = names.length;
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
  const shards = names.map((device, rank) => {
    // Cut on the source's side; a CPU tensor headed for another kind of device is uploaded afterwards.
    const stagingDevice = sourceKind === targetKind ? device : t.device;
    const segments = segmentsOf(layout, w, rank, length);
    const parts = segments.map((s) => ops.slice(source, t.shape, axis, s.start, s.length, stagingDevice));
    const shard =
      parts.length === 1
        ? parts[0]
        : ops.concat(parts, segments.map((s) => t.shape.map((x, i) => (i === axis ? s.length : x))), axis, stagingDevice);
    if (parts.length > 1) for (const p of parts) p.dispose();
    return new Tensor(sourceKind === targetKind ? shard : uploadHost(shard, device), shardShape);
  });
  return new ShardedTensor(shards, t.shape, layout, axis);
}

function uploadHost(host: Storage, device: string): Storage {
  const array = (host as { array?: unknown }).array;
  if (!(array instanceof Float32Array || array instanceof Uint16Array)) {
    throw new DeviceError(`t: expected CPU data to upload to ${describe(device)}`);
  }
  return backendFor(parseDevice(device).kind).upload(array, host.dtype, device);
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
 * `.to(device)` for another). The sharded tensor is not consumed.
 */
export function gatherSequence(s: ShardedTensor): Tensor {
  checkSharded(s, 's');
  const kind = parseDevice(s.devices[0]).kind;
  const ops = ringOpsFor(kind);
  const w = s.worldSize;
  const length = s.shape[s.axis];
  const shardShape = s.shards[0].shape;
  const pieces: { start: number; part: Storage; owned: boolean; shape: number[] }[] = [];
  s.shards.forEach((shard, rank) => {
    const segments = segmentsOf(s.layout, w, rank, length);
    for (const seg of segments) {
      const shape = s.shape.map((x, i) => (i === s.axis ? seg.length : x));
      const whole = segments.length === 1;
      const part = whole
        ? shard.storage('s')
        : ops.slice(shard.storage('s'), shardShape, s.axis, seg.offsetInShard, seg.length, shard.device);
      pieces.push({ start: seg.start, part, owned: !whole, shape });
    }
  });
  pieces.sort((a, b) => a.start - b.start);
  const joined = ops.concat(pieces.map((p) => p.part), pieces.map((p) => p.shape), s.axis, s.devices[0]);
  for (const p of pieces) if (p.owned) p.part.dispose();
  return new Tensor(joined, s.shape);
}
