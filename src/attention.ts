import { backendOfDevice } from './backend.js';
import { DisposedError, ShapeError } from './errors.js';
import { type AttentionOptions, attentionProblem, checkBackwardInputs } from './params.js';
import { Tensor } from './tensor.js';
import { type ShardedForwardOutputs, type ShardedGradients, anySharded, ringFlashMhaBwd, ringFlashMhaFwd } from './ring/attention.js';
import type { ShardedTensor } from './ring/sharded.js';

export interface ForwardOutputs {
  /** [n, lq, h, d], the dtype of q */
  out: Tensor;
  /** [n, h, lq], float32 log-sum-exp of each row (-Infinity for a row with no allowed key) */
  lse: Tensor;
}

export interface Gradients {
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
}

/**
 * Forward pass returning the output and the row log-sum-exp that the backward pass needs. With q, k, v
 * sharded along the sequence (shardSequence), runs ring attention and returns sharded results.
 */
export function flashMhaFwd(q: ShardedTensor, k: ShardedTensor, v: ShardedTensor, options?: AttentionOptions): ShardedForwardOutputs;
export function flashMhaFwd(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): ForwardOutputs;
export function flashMhaFwd(
  q: Tensor | ShardedTensor,
  k: Tensor | ShardedTensor,
  v: Tensor | ShardedTensor,
  options: AttentionOptions = {},
): ForwardOutputs | ShardedForwardOutputs {
  if (anySharded(q, k, v)) return ringFlashMhaFwd(q, k, v, options);
  return localForward(q as Tensor, k as Tensor, v as Tensor, options);
}

function localForward(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): ForwardOutputs {
  const p = attentionProblem(q, k, v, options);
  const result = backendOfDevice(p.device).forward(p, q.storage('q'), k.storage('k'), v.storage('v'));
  return { out: new Tensor(result.out, [p.n, p.lq, p.h, p.d]), lse: new Tensor(result.lse, [p.n, p.h, p.lq]) };
}

/** Exact attention softmax(softmaxScale · q kᵀ + mask) v, without materializing the score matrix. */
export function flashMha(q: ShardedTensor, k: ShardedTensor, v: ShardedTensor, options?: AttentionOptions): ShardedTensor;
export function flashMha(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor;
export function flashMha(
  q: Tensor | ShardedTensor,
  k: Tensor | ShardedTensor,
  v: Tensor | ShardedTensor,
  options: AttentionOptions = {},
): Tensor | ShardedTensor {
  const { out, lse } = anySharded(q, k, v)
    ? ringFlashMhaFwd(q, k, v, options)
    : localForward(q as Tensor, k as Tensor, v as Tensor, options);
  lse.dispose();
  return out;
}

/** Backward pass: gradients of q, k, v given the upstream gradient and the forward pass's out and lse. */
export function flashMhaBwd(
  dout: ShardedTensor,
  q: ShardedTensor,
  k: ShardedTensor,
  v: ShardedTensor,
  out: ShardedTensor,
  lse: ShardedTensor,
  options?: AttentionOptions,
): ShardedGradients;
export function flashMhaBwd(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, options?: AttentionOptions): Gradients;
export function flashMhaBwd(
  dout: Tensor | ShardedTensor,
  q: Tensor | ShardedTensor,
  k: Tensor | ShardedTensor,
  v: Tensor | ShardedTensor,
  out: Tensor | ShardedTensor,
  lse: Tensor | ShardedTensor,
  options: AttentionOptions = {},
): Gradients | ShardedGradients {
  if (anySharded(q, k, v)) return ringFlashMhaBwd(dout, q, k, v, out, lse, options);
  // q, k and v decide between the ring and one device: a sharded other argument is named as the odd one out.
  const sharded = ([['dout', dout], ['out', out], ['lse', lse]] as const).find(([, t]) => anySharded(t));
  if (sharded) {
    throw new ShapeError(`${sharded[0]}: expected an unsharded Tensor like q (q, k and v are not sharded), got a ShardedTensor; gather it with gatherSequence, or shard q, k and v too`);
  }
  return localBackward(dout as Tensor, q as Tensor, k as Tensor, v as Tensor, out as Tensor, lse as Tensor, options);
}

function localBackward(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, options: AttentionOptions): Gradients {
  const p = attentionProblem(q, k, v, options);
  checkBackwardInputs(p, dout, out, lse);
  const g = backendOfDevice(p.device).backward(
    p,
    dout.storage('dout'),
    q.storage('q'),
    k.storage('k'),
    v.storage('v'),
    out.storage('out'),
    lse.storage('lse'),
  );
  return {
    dq: new Tensor(g.dq, q.shape),
    dk: new Tensor(g.dk, k.shape),
    dv: new Tensor(g.dv, v.shape),
  };
}

/** A vector-Jacobian product in JAX's convention: the pullback owns the saved lse until disposed. */
export type VjpFunction = ((dout: Tensor) => [Tensor, Tensor, Tensor]) & Disposable & { dispose(): void };
/** The pullback of a sharded call: sharded dout in, sharded [dq, dk, dv] out. */
export type ShardedVjpFunction = ((dout: ShardedTensor) => [ShardedTensor, ShardedTensor, ShardedTensor]) &
  Disposable & { dispose(): void };

/**
 * The saved lse is the pullback's own, so it is disposed only with the pullback: say so, rather than name an lse the
 * caller never passed.
 */
function checkPullbackLive(lse: Tensor | ShardedTensor, read: Record<'q' | 'k' | 'v' | 'out', Tensor | ShardedTensor>): void {
  if (lse.isDisposed) throw new DisposedError('vjp: the pullback was disposed (with its saved lse) and cannot be called');
  // The pullback reads the caller's q, k, v and o rather than copies: name the one disposed too early as the caller
  // knows it, not as the backward's argument it would otherwise fail in.
  for (const [name, t] of Object.entries(read)) {
    if (t.isDisposed) {
      const which = name === 'out' ? 'the output o that flashMhaVjp returned' : name;
      throw new DisposedError(`vjp: ${which} was disposed; the pullback reads q, k, v and o, so keep them until it has run`);
    }
  }
}

/**
 * The options as the forward just read them (it validated them first), so that the pullback differentiates that
 * call, as jax.vjp's closure does, whatever becomes of the caller's object (or its windowSize array) meanwhile.
 */
function snapshot(options: AttentionOptions): AttentionOptions {
  const { windowSize } = options;
  return { ...options, ...(windowSize === undefined ? {} : { windowSize: [windowSize[0], windowSize[1]] as const }) };
}

/**
 * Like `jax.vjp(flash_mha, q, k, v)`: returns the output and a function from dout to [dq, dk, dv].
 * The pullback owns the saved lse and uses q, k, v and out (still owned by the caller: keep them alive
 * until the pullback has run); dispose it when done.
 */
export function flashMhaVjp(q: ShardedTensor, k: ShardedTensor, v: ShardedTensor, options?: AttentionOptions): [ShardedTensor, ShardedVjpFunction];
export function flashMhaVjp(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): [Tensor, VjpFunction];
export function flashMhaVjp(
  q: Tensor | ShardedTensor,
  k: Tensor | ShardedTensor,
  v: Tensor | ShardedTensor,
  options: AttentionOptions = {},
): [Tensor, VjpFunction] | [ShardedTensor, ShardedVjpFunction] {
  if (anySharded(q, k, v)) {
    const { out, lse } = ringFlashMhaFwd(q, k, v, options);
    const forwardOptions = snapshot(options);
    const pullback = ((dout: ShardedTensor): [ShardedTensor, ShardedTensor, ShardedTensor] => {
      checkPullbackLive(lse, { q, k, v, out });
      const { dq, dk, dv } = ringFlashMhaBwd(dout, q, k, v, out, lse, forwardOptions);
      return [dq, dk, dv];
    }) as ShardedVjpFunction;
    pullback.dispose = () => lse.dispose();
    pullback[Symbol.dispose] = pullback.dispose;
    return [out, pullback];
  }
  const [tq, tk, tv] = [q as Tensor, k as Tensor, v as Tensor];
  const { out, lse } = localForward(tq, tk, tv, options);
  const forwardOptions = snapshot(options);
  const pullback = ((dout: Tensor): [Tensor, Tensor, Tensor] => {
    checkPullbackLive(lse, { q: tq, k: tk, v: tv, out });
    const { dq, dk, dv } = localBackward(dout, tq, tk, tv, out, lse, forwardOptions);
    return [dq, dk, dv];
  }) as VjpFunction;
  pullback.dispose = () => lse.dispose();
  pullback[Symbol.dispose] = pullback.dispose;
  return [out, pullback];
}
