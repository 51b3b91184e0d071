import { type AttentionProblem, backendFor } from './backend.js';
import { parseDevice } from './device.js';
import { type AttentionOptions, attentionProblem, checkBackwardInputs } from './params.js';
import { Tensor } from './tensor.js';

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

function backendOf(p: AttentionProblem) {
  return backendFor(parseDevice(p.device).kind);
}

/** Forward pass returning the output and the row log-sum-exp that the backward pass needs. */
export function flashMhaFwd(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): ForwardOutputs {
  const p = attentionProblem(q, k, v, options);
  const result = backendOf(p).forward(p, q.storage('q'), k.storage('k'), v.storage('v'));
  return { out: new Tensor(result.out, [p.n, p.lq, p.h, p.d]), lse: new Tensor(result.lse, [p.n, p.h, p.lq]) };
}

/** Exact attention softmax(softmaxScale · q kᵀ + mask) v, without materializing the score matrix. */
export function flashMha(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const { out, lse } = flashMhaFwd(q, k, v, options);
  lse.dispose();
  return out;
}

/** Backward pass: gradients of q, k, v given the upstream gradient and the forward pass's out and lse. */
export function flashMhaBwd(
  dout: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  options: AttentionOptions = {},
): Gradients {
  const p = attentionProblem(q, k, v, options);
  checkBackwardInputs(p, dout, out, lse);
  const g = backendOf(p).backward(
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

/** A vector-Jacobian product in JAX's convention: the pullback keeps out and lse until disposed. */
export type VjpFunction = ((dout: Tensor) => [Tensor, Tensor, Tensor]) & Disposable & { dispose(): void };

/**
 * Like `jax.vjp(flash_mha, q, k, v)`: returns the output and a function from dout to [dq, dk, dv].
 * The pullback holds the saved lse (and references q, k, v, out); dispose it when done.
 */
export function flashMhaVjp(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions = {},
): [Tensor, VjpFunction] {
  const { out, lse } = flashMhaFwd(q, k, v, options);
  const pullback = ((dout: Tensor): [Tensor, Tensor, Tensor] => {
    const { dq, dk, dv } = flashMhaBwd(dout, q, k, v, out, lse, options);
    return [dq, dk, dv];
  }) as VjpFunction;
  pullback.dispose = () => lse.dispose();
  pullback[Symbol.dispose] = pullback.dispose;
  return [out, pullback];
}
