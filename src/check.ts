/**
 * Spot checks against float64 arithmetic for results too large for a full reference: one query row at
 * a time, straight from the definition (semantics.md). Used by the demo; the test suite has its own
 * full reference.
 */
import type { AttentionProblem } from './backend.js';
import { isAllowed } from './params.js';

export interface RowReference {
  o: Float64Array;
  lse: number;
  dq: Float64Array;
}

/** o, lse and dq of query row (b, head, i), all in float64, from float32-widened inputs. */
export function referenceRow(
  p: AttentionProblem,
  tensors: { q: Float32Array; k: Float32Array; v: Float32Array; dout: Float32Array },
  b: number,
  head: number,
  i: number,
): RowReference {
  const { lq, lk, h, hk, d, softmaxScale } = p;
  const { q, k, v, dout } = tensors;
  const kvHead = Math.floor(head / (h / hk));
  const qOff = ((b * lq + i) * h + head) * d;
  const kOff = (j: number) => ((b * lk + j) * hk + kvHead) * d;
  const scores = new Float64Array(lk).fill(-Infinity);
  let max = -Infinity;
  for (let j = 0; j < lk; j++) {
    if (!isAllowed(p, i, j)) continue;
    let dot = 0;
    for (let x = 0; x < d; x++) dot += q[qOff + x] * k[kOff(j) + x];
    scores[j] = softmaxScale * dot;
    max = Math.max(max, scores[j]);
  }
  const o = new Float64Array(d);
  const dq = new Float64Array(d);
  if (max === -Infinity) return { o, lse: -Infinity, dq };
  let sum = 0;
  for (let j = 0; j < lk; j++) if (scores[j] > -Infinity) sum += Math.exp(scores[j] - max);
  const lse = max + Math.log(sum);
  const probs = scores.map((s) => (s === -Infinity ? 0 : Math.exp(s - lse)));
  const dP = new Float64Array(lk);
  let D = 0;
  for (let j = 0; j < lk; j++) {
    if (probs[j] === 0) continue;
    let dot = 0;
    for (let x = 0; x < d; x++) {
      o[x] += probs[j] * v[kOff(j) + x];
      dot += dout[qOff + x] * v[kOff(j) + x];
    }
    dP[j] = dot;
    D += probs[j] * dot;
  }
  for (let j = 0; j < lk; j++) {
    if (probs[j] === 0) continue;
    const dS = probs[j] * (dP[j] - D);
    for (let x = 0; x < d; x++) dq[x] += softmaxScale * dS * k[kOff(j) + x];
  }
  return { o, lse, dq };
}
