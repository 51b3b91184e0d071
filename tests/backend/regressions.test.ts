/**
 * The regressions of testing.md on every test device and dtype: rows with no allowed key (o = 0,
 * lse = -Infinity, zero gradients, no NaN), large inputs (q x5, k and v x3: scores around +-15 whose
 * exp overflows float16 unless the row maximum is subtracted first; F = 5), lq = 0 and lk = 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flashMhaBwd, flashMhaFwd } from '../../src/index.js';
import type { AttentionOptions } from '../../src/params.js';
import { type CaseSpec, caseName, checkCase, reproLine } from '../support/attentionCase.js';
import { dtypesFor, testDevices } from '../support/devices.js';
import { inputSeeds, randomValues, upload } from '../support/inputs.js';
import { testFile } from '../support/gridSuite.js';

const FILE = testFile(import.meta.url);
const shape = (n: number, lq: number, lk: number, h: number, hk: number, d: number) => ({ n, lq, lk, h, hk, d });

/** Shapes and masks that leave rows without any allowed key, in whole tiles and mid-tile. */
const EMPTY_ROW_CASES: { shape: ReturnType<typeof shape>; options: AttentionOptions }[] = [
  { shape: shape(1, 200, 10, 2, 1, 16), options: { isCausal: true } }, // rows 0..189 empty: whole 64-row tiles
  { shape: shape(2, 70, 65, 4, 2, 8), options: { isCausal: true } }, // 5 empty rows at the top of a tile
  { shape: shape(1, 9, 3, 3, 3, 5), options: { windowSize: [0, 0] } }, // only the last 3 rows see a key
  { shape: shape(1, 130, 130, 2, 2, 24), options: { windowSize: [2, 1] } }, // a band; every row has keys
  { shape: shape(1, 100, 40, 2, 1, 32), options: { windowSize: [5, 0] } }, // band through empty rows
  { shape: shape(1, 12, 12, 1, 1, 7), options: { windowSize: [0, 0], isCausal: true } },
];

/** The overflow regression: exp(S) of these scores overflows float16 without the max shift; F = 5 for every output. */
const OVERFLOW_CASES: { shape: ReturnType<typeof shape>; options: AttentionOptions }[] = [
  { shape: shape(1, 128, 217, 2, 1, 128), options: {} },
  { shape: shape(2, 113, 203, 2, 2, 256), options: { isCausal: true } },
  { shape: shape(1, 256, 512, 1, 1, 64), options: { windowSize: [100, 20] } },
];

for (const device of testDevices()) {
  describe(`regressions on ${device}`, () => {
    for (const dtype of dtypesFor(device)) {
      let seed = 7000 + dtype.length;
      const registerCase = (label: string, spec: CaseSpec) => {
        const name = `${device} ${label}: ${caseName(spec)}`;
        it(name, async () => {
          const failures = await checkCase(device, spec, reproLine(device, name, FILE));
          if (failures.length > 0) assert.fail(`${name}\n${failures.join('\n')}`);
        });
      };
      for (const c of EMPTY_ROW_CASES) registerCase('empty rows', { ...c.shape, dtype, options: c.options, seed: seed++ });
      for (const c of OVERFLOW_CASES) {
        registerCase('overflow', { ...c.shape, dtype, options: c.options, seed: seed++, scales: { q: 5, k: 3, v: 3 }, overflow: true });
      }

      it(`${device} ${dtype} lq = 0 gives empty o, lse, dq and zero dk, dv`, async () => {
        const s = inputSeeds(seed++);
        const [n, lk, h, hk, d] = [2, 17, 4, 2, 8];
        using q = upload(randomValues([n, 0, h, d], dtype, s.q), device);
        using k = upload(randomValues([n, lk, hk, d], dtype, s.k), device);
        using v = upload(randomValues([n, lk, hk, d], dtype, s.v), device);
        using dout = upload(randomValues([n, 0, h, d], dtype, s.dout), device);
        for (const options of [{}, { isCausal: true }, { windowSize: [3, 3] as const }]) {
          const { out, lse } = flashMhaFwd(q, k, v, options);
          assert.deepEqual([out.shape, lse.shape], [[n, 0, h, d], [n, h, 0]]);
          const g = flashMhaBwd(dout, q, k, v, out, lse, options);
          assert.deepEqual([g.dq.shape, g.dk.shape, g.dv.shape], [[n, 0, h, d], [n, lk, hk, d], [n, lk, hk, d]]);
          assert.equal((await out.toFloat32Array()).length, 0);
          assert.equal((await lse.toFloat32Array()).length, 0);
          assert.equal((await g.dq.toFloat32Array()).length, 0);
          for (const t of [g.dk, g.dv]) assert.ok((await t.toFloat32Array()).every((x) => x === 0), 'dk, dv must be 0');
          for (const t of [out, lse, g.dq, g.dk, g.dv]) t.dispose();
        }
      });

      it(`${device} ${dtype} lk = 0 gives o = 0, lse = -Infinity, dq = 0 and empty dk, dv`, async () => {
        const s = inputSeeds(seed++);
        const [n, lq, h, hk, d] = [2, 19, 4, 1, 8];
        using q = upload(randomValues([n, lq, h, d], dtype, s.q), device);
        using k = upload(randomValues([n, 0, hk, d], dtype, s.k), device);
        using v = upload(randomValues([n, 0, hk, d], dtype, s.v), device);
        using dout = upload(randomValues([n, lq, h, d], dtype, s.dout), device);
        for (const options of [{}, { isCausal: true }, { windowSize: [0, 0] as const }]) {
          const { out, lse } = flashMhaFwd(q, k, v, options);
          const g = flashMhaBwd(dout, q, k, v, out, lse, options);
          assert.ok((await out.toFloat32Array()).every((x) => x === 0), 'o must be 0');
          assert.ok((await lse.toFloat32Array()).every((x) => x === -Infinity), 'lse must be -Infinity');
          assert.ok((await g.dq.toFloat32Array()).every((x) => x === 0), 'dq must be 0');
          assert.deepEqual([g.dk.shape, g.dv.shape], [[n, 0, hk, d], [n, 0, hk, d]]);
          assert.equal((await g.dk.toFloat32Array()).length + (await g.dv.toFloat32Array()).length, 0);
          for (const t of [out, lse, g.dq, g.dk, g.dv]) t.dispose();
        }
      });
    }
  });
}
