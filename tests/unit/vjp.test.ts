/** flashMhaVjp (JAX's vjp convention) equals flashMhaFwd followed by flashMhaBwd, bit for bit. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DisposedError, flashMha, flashMhaBwd, flashMhaFwd, flashMhaVjp, randn } from '../../src/index.js';
import { DTYPES } from '../../src/dtype.js';

describe('flashMhaVjp', () => {
  for (const dtype of DTYPES) {
    it(`${dtype}: out and [dq, dk, dv] equal flashMhaFwd + flashMhaBwd; flashMha equals out`, async () => {
      const options = { windowSize: [5, 2] as const, softmaxScale: 0.3 };
      const q = randn([2, 70, 4, 12], { seed: 1, dtype });
      const k = randn([2, 66, 2, 12], { seed: 2, dtype });
      const v = randn([2, 66, 2, 12], { seed: 3, dtype });
      const dout = randn([2, 70, 4, 12], { seed: 4, dtype });
      const [out, pullback] = flashMhaVjp(q, k, v, options);
      const fwd = flashMhaFwd(q, k, v, options);
      const bwd = flashMhaBwd(dout, q, k, v, fwd.out, fwd.lse, options);
      assert.deepEqual(await out.data(), await fwd.out.data());
      assert.deepEqual(await flashMha(q, k, v, options).data(), await fwd.out.data());
      for (let call = 0; call < 2; call++) {
        const [dq, dk, dv] = pullback(dout);
        assert.deepEqual(await dq.data(), await bwd.dq.data());
        assert.deepEqual(await dk.data(), await bwd.dk.data());
        assert.deepEqual(await dv.data(), await bwd.dv.data());
        assert.deepEqual([dq.shape, dk.shape, dv.shape], [q.shape, k.shape, v.shape]);
      }
      pullback.dispose();
      assert.throws(() => pullback(dout), DisposedError, 'the pullback holds lse until disposed');
    });
  }

  it('the pullback differentiates the call that was made, whatever becomes of the options object after it', async () => {
    const windowSize: [number, number] = [5, 2];
    const options = { windowSize, softmaxScale: 0.3, isCausal: false };
    const q = randn([1, 40, 2, 8], { seed: 1 });
    const k = randn([1, 40, 2, 8], { seed: 2 });
    const dout = randn([1, 40, 2, 8], { seed: 4 });
    const fwd = flashMhaFwd(q, k, k, options);
    const want = flashMhaBwd(dout, q, k, k, fwd.out, fwd.lse, options);
    const [, pullback] = flashMhaVjp(q, k, k, options);
    options.softmaxScale = 3;
    options.isCausal = true;
    windowSize[0] = 0;
    const [dq, dk, dv] = pullback(dout);
    assert.deepEqual(await dq.data(), await want.dq.data());
    assert.deepEqual(await dk.data(), await want.dk.data());
    assert.deepEqual(await dv.data(), await want.dv.data());
  });

  it('works with `using` on the pullback', () => {
    const q = randn([1, 3, 1, 4], { seed: 1 });
    let kept: (() => unknown) | undefined;
    {
      const [out, pullback] = flashMhaVjp(q, q, q);
      using _pullback = pullback;
      kept = () => pullback(out);
      assert.doesNotThrow(kept);
    }
    assert.throws(kept, DisposedError);
  });
});
