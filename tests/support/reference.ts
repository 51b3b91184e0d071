/**
 * The float64 reference: plain loops over the definition in shared semantics (no tiling, no online
 * softmax), materializing each row's scores. Slow and obviously right; every backend is checked against it.
 */
import type { AttentionProblem } from '../../src/backend.js';
import { isAllowed } from '../../src/params.js';

export type Mask = Pick<AttentionProblem, 'n' | 'lq' | 'lk' | 'h' | 'hk' | 'd' | 'softmaxScale' | 'windowLeft' | 'windowRight' | 'diagonalOffset'>;

export interface Reference {
  o: Float64Array;
  lse: Float64Array;
}

export interface ReferenceGrads {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

const at = (b: number, i: number, head: number, l: number, heads: number, d: number) => ((b * l + i) * heads + head) * d;

/** Row probabilities P[i][j] (0 where masked) and lse, for one (b, head). */
function rowProbabilities(p: Mask, q: ArrayLike<number>, k: ArrayLike<number>, b: number, head: number, i: number): { probs: Float64Array; lse: number } {
  const { lq, lk, h, hk, d, softmaxScale } = p;
  const kvHead = Math.floor(head / (h / hk));
  const s = new Float64Array(lk).fill(-Infinity);
  let max = -Infinity;
  for (let j = 0; j < lk; j++) {
    if (!isAllowed(p, i, j)) continue;
    let dot = 0;
    const qo = at(b, i, head, lq, h, d);
    const ko = at(b, j, kvHead, lk, hk, d);
    for (let x = 0; x < d; x++) dot += q[qo + x] * k[ko + x];
    s[j] = softmaxScale * dot;
    max = Math.max(max, s[j]);
  }
  const probs = new Float64Array(lk);
  if (max === -Infinity) return { probs, lse: -Infinity };
  let sum = 0;
  for (let j = 0; j < lk; j++) sum += s[j] === -Infinity ? 0 : Math.exp(s[j] - max);
  // exp(s - max) / sum, not exp(s - lse): where |lse| is large, lse = max + log(sum) keeps few bits of log(sum).
  for (let j = 0; j < lk; j++) probs[j] = s[j] === -Infinity ? 0 : Math.exp(s[j] - max) / sum;
  return { probs, lse: max + Math.log(sum) };
}

export function referenceForward(p: Mask, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>): Reference {
  const { n, lq, lk, h, hk, d } = p;
  const o = new Float64Array(n * lq * h * d);
  const lse = new Float64Array(n * h * lq);
  const kvOf = (head: number) => Math.floor(head / (h / hk));
  for (let b = 0; b < n; b++) {
    for (let head = 0; head < h; head++) {
      for (let i = 0; i < lq; i++) {
        const row = rowProbabilities(p, q, k, b, head, i);
        lse[(b * h + head) * lq + i] = row.lse;
        const oo = at(b, i, head, lq, h, d);
        for (let j = 0; j < lk; j++) {
          if (row.probs[j] === 0) continue;
          const vo = at(b, j, kvOf(head), lk, hk, d);
          for (let x = 0; x < d; x++) o[oo + x] += row.probs[j] * v[vo + x];
        }
      }
    }
  }
  return { o, lse };
}

export function referenceBackward(
  p: Mask,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dout: ArrayLike<number>,
): ReferenceGrads {
  const { n, lq, lk, h, hk, d, softmaxScale } = p;
  const dq = new Float64Array(n * lq * h * d);
  const dk = new Float64Array(n * lk * hk * d);
  const dv = new Float64Array(n * lk * hk * d);
  const kvOf = (head: number) => Math.floor(head / (h / hk));
  for (let b = 0; b < n; b++) {
    for (let head = 0; head < h; head++) {
      const kvHead = kvOf(head);
      for (let i = 0; i < lq; i++) {
        const { probs } = rowProbabilities(p, q, k, b, head, i);
        const qo = at(b, i, head, lq, h, d);
        const dP = new Float64Array(lk);
        let Di = 0;
        for (let j = 0; j < lk; j++) {
          if (probs[j] === 0) continue;
          const vo = at(b, j, kvHead, lk, hk, d);
          let dot = 0;
          for (let x = 0; x < d; x++) dot += dout[qo + x] * v[vo + x];
          dP[j] = dot;
          Di += probs[j] * dot; // D_i = dot(dout_i, o_i) = sum_j P_ij dP_ij
        }
        for (let j = 0; j < lk; j++) {
          if (probs[j] === 0) continue;
          const ko = at(b, j, kvHead, lk, hk, d);
          const dS = probs[j] * (dP[j] - Di);
          for (let x = 0; x < d; x++) {
            dv[ko + x] += probs[j] * dout[qo + x];
            dq[qo + x] += softmaxScale * dS * k[ko + x];
            dk[ko + x] += softmaxScale * dS * q[qo + x];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
