import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DeviceError,
  DisposedError,
  FlashAttentionError,
  OptionError,
  ShapeError,
  flashMhaBwd,
  flashMhaFwd,
  fromLocalShards,
  gatherSequence,
  randn,
  shardSequence,
} from '../../src/index.js';
import { ncclWanted } from '../../src/ring/cuda-transport.js';
import { cpuDevices } from './support.js';

const q = () => randn([1, 12, 2, 4], { seed: 1 });
const kv = () => randn([1, 12, 1, 4], { seed: 2 });

test('a ShardedTensor cannot have its shape, layout or devices rewritten', () => {
  const t = shardSequence(q(), cpuDevices(2));
  const writable = t as unknown as Record<string, unknown>;
  for (const field of ['shape', 'dtype', 'layout', 'axis', 'devices', 'shards']) {
    assert.throws(() => { writable[field] = undefined; }, TypeError, field);
  }
  t.dispose();
});

test('a length not divisible by the chunk count is a ShapeError naming the argument and the count', () => {
  assert.throws(() => shardSequence(q(), cpuDevices(5)), (e: unknown) => e instanceof ShapeError && /^t: .*divisible by 5.*contiguous.*got 12/.test(e.message));
  assert.throws(() => shardSequence(q(), cpuDevices(4), { layout: 'zigzag' }), (e: unknown) => e instanceof ShapeError && /divisible by 8.*zigzag.*got 12/.test(e.message));
});

test("k and v of different lengths: the message gives the lengths passed, not the shards'", () => {
  const sq = shardSequence(q(), cpuDevices(2));
  const sk = shardSequence(kv(), cpuDevices(2));
  const sv = shardSequence(randn([1, 4, 1, 4], { seed: 3 }), cpuDevices(2));
  assert.throws(() => flashMhaFwd(sq, sk, sv), (e: unknown) => e instanceof ShapeError && e.message === 'v: expected lk = 12 (as in k), got 4');
});

test('bad layouts, devices and axes are clear errors', () => {
  assert.throws(() => shardSequence(q(), cpuDevices(2), { layout: 'striped' as 'zigzag' }), (e: unknown) => e instanceof OptionError && /layout/.test(e.message));
  assert.throws(() => shardSequence(q(), []), (e: unknown) => e instanceof DeviceError && /^devices:/.test(e.message));
  assert.throws(() => shardSequence(q(), ['cpu:0', 'cpu:99']), (e: unknown) => e instanceof DeviceError && /does not exist/.test(e.message));
  assert.throws(() => shardSequence(q(), ['cpu:0', 'tpu:1']), DeviceError);
  assert.throws(() => shardSequence(q(), cpuDevices(2), { axis: 4 }), (e: unknown) => e instanceof OptionError && /^axis:/.test(e.message));
});

test('unknown option keys of shardSequence and fromLocalShards are OptionErrors listing the known ones', () => {
  const unknown = (key: string) => (e: unknown) => e instanceof OptionError && e.message === `options: unknown option '${key}'; expected layout, axis, group`;
  assert.throws(() => shardSequence(q(), cpuDevices(2), { Layout: 'zigzag' } as never), unknown('Layout'));
  assert.throws(() => shardSequence(q(), cpuDevices(2), null as never), (e: unknown) => e instanceof OptionError && /^options: expected a plain object, got null$/.test(e.message));
  const shards = shardSequence(q(), cpuDevices(2)).shards;
  assert.throws(() => fromLocalShards(shards, [1, 12, 2, 4], { dim: 1 } as never), unknown('dim'));
});

test('mixing sharded and unsharded inputs is an error naming the unsharded one', () => {
  const devices = cpuDevices(2);
  const [sq, sk, sv] = [q(), kv(), kv()].map((t) => shardSequence(t, devices));
  assert.throws(() => flashMhaFwd(sq, kv() as never, sv), (e: unknown) => e instanceof ShapeError && /^k: .*unsharded/.test(e.message));
  assert.throws(() => flashMhaFwd(q() as never, sk, sv), (e: unknown) => e instanceof ShapeError && /^q: .*unsharded/.test(e.message));
  // The other way round in the backward: q, k, v on one device, a sharded dout, out or lse.
  const [lq, lk, lv] = [q(), kv(), kv()];
  const { out, lse } = flashMhaFwd(lq, lk, lv);
  const sharded = { dout: shardSequence(q(), devices), out: shardSequence(out, devices), lse: shardSequence(lse, devices, { axis: 2 }) };
  for (const name of ['dout', 'out', 'lse'] as const) {
    const args = { dout: q(), out, lse, [name]: sharded[name] };
    assert.throws(
      () => flashMhaBwd(args.dout as never, lq, lk, lv, args.out as never, args.lse as never),
      (e: unknown) => e instanceof ShapeError && new RegExp(`^${name}: expected an unsharded Tensor like q \\(q, k and v are not sharded\\), got a ShardedTensor`).test(e.message),
      name,
    );
  }
});

test('different layouts or devices across q, k, v are errors naming the argument', () => {
  const zig = shardSequence(kv(), cpuDevices(2), { layout: 'zigzag' });
  const [sq, sk] = [shardSequence(q(), cpuDevices(2)), shardSequence(kv(), cpuDevices(2))];
  assert.throws(() => flashMhaFwd(sq, sk, zig), (e: unknown) => e instanceof OptionError && /^v: expected layout 'contiguous'/.test(e.message));
  const other = shardSequence(kv(), ['cpu:2', 'cpu:3']);
  assert.throws(() => flashMhaFwd(sq, other, sk), (e: unknown) => e instanceof DeviceError && /^k: expected devices/.test(e.message));
  const three = shardSequence(kv(), cpuDevices(3));
  assert.throws(() => flashMhaFwd(sq, sk, three), DeviceError);
});

test('per-shard validation still applies: head mismatch, bad options, bad backward inputs', () => {
  const devices = cpuDevices(2);
  const sq = shardSequence(q(), devices);
  const bad = shardSequence(randn([1, 12, 3, 4]), devices);
  assert.throws(() => flashMhaFwd(sq, bad, bad), (e: unknown) => e instanceof ShapeError && /^k:/.test(e.message));
  const sk = shardSequence(kv(), devices);
  assert.throws(() => flashMhaFwd(sq, sk, sk, { windowSize: [-2, 0] }), OptionError);
  const { out, lse } = flashMhaFwd(sq, sk, sk);
  // lse must be sharded along axis 2; passing out in its place is an error naming lse.
  assert.throws(() => flashMhaBwd(out, sq, sk, sk, out, out), (e: unknown) => e instanceof ShapeError && /^lse:/.test(e.message));
  assert.throws(() => flashMhaBwd(lse, sq, sk, sk, out, lse), (e: unknown) => e instanceof ShapeError && /^dout:/.test(e.message));
});

test('a disposed shard is a DisposedError; gather of a live tensor works after others are disposed', () => {
  const devices = cpuDevices(2);
  const sq = shardSequence(q(), devices);
  const sk = shardSequence(kv(), devices);
  const sv = shardSequence(kv(), devices);
  sv.shards[1].dispose();
  assert.throws(() => flashMhaFwd(sq, sk, sv), (e: unknown) => e instanceof DisposedError && /^v:/.test(e.message));
  assert.throws(() => gatherSequence(sv), DisposedError);
  assert.ok(gatherSequence(sq).shape.every((s, i) => s === [1, 12, 2, 4][i]));
  assert.ok(new ShapeError('x') instanceof FlashAttentionError);
});

test('shard then gather round-trips exactly, for every layout and axis 2', async () => {
  const t = randn([2, 3, 16], { seed: 5, dtype: 'bfloat16' });
  for (const layout of ['contiguous', 'zigzag'] as const) {
    for (const w of [1, 2, 4, 8]) {
      const s = shardSequence(t, cpuDevices(w), { layout, axis: 2 });
      assert.deepEqual(s.shards[0].shape, [2, 3, 16 / w]);
      assert.deepEqual(await gatherSequence(s).data(), await t.data());
    }
  }
  // Zigzag rank 0 of 2 holds chunks 0 and 3 of 4 along axis 1.
  const seq = randn([1, 8, 1, 1], { seed: 6 });
  const all = await seq.toFloat32Array();
  const zig = shardSequence(seq, cpuDevices(2), { layout: 'zigzag' });
  assert.deepEqual(await zig.shards[0].toFloat32Array(), Float32Array.of(all[0], all[1], all[6], all[7]));
  assert.deepEqual(await zig.shards[1].toFloat32Array(), Float32Array.of(all[2], all[3], all[4], all[5]));
});

test('FLASH_ATTN_RING_TRANSPORT: unset, nccl or copy; anything else is an OptionError naming the variable', () => {
  for (const setting of [undefined, '', 'nccl']) assert.equal(ncclWanted(setting), true, String(setting));
  assert.equal(ncclWanted('copy'), false);
  for (const bad of ['copies', 'NCCL', '0']) {
    assert.throws(() => ncclWanted(bad), (e: unknown) => e instanceof OptionError && /^FLASH_ATTN_RING_TRANSPORT: expected 'copy'.*got '/.test(e.message), bad);
  }
});
