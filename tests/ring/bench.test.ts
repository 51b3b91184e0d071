import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError } from '../../src/errors.js';
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

test('benchRing refuses inputs that are not the problem its options describe', async () => {
  const inputs = benchInputs('cpu:0', { n: 1, length: 64, h: 2, hk: 2, d: 16, dtype: 'float32' });
  await assert.rejects(benchRing({ devices: cpuDevices(2), length: 64, h: 2, d: 8, repeats: 1, inputs }), ShapeError);
  for (const t of Object.values(inputs)) t.dispose();
});
