/**
 * Xlp of the tolerance rule: naive attention in the input dtype, rounded where a plain framework
 * (matmul, softmax, matmul; autograd for the backward pass) rounds its intermediate tensors:
 *   S = rnd(scale * Q K^T)      P = rnd(softmax(S))       lse = rnd(logsumexp(S))     O = rnd(P V)
 *   dP = rnd(dO V^T)            dS = rnd(P ∘ (dP - rowsum(P ∘ dP)))   (softmax backward from saved P)
 *   dQ = rnd(scale * dS K)      dK = rnd(scale * dS^T Q)  dV = rnd(P^T dO)
 * Each op accumulates in float64 (a framework accumulates in float32; the difference is far below one
 * dtype ulp) and rounds its result once. Grouped-query attention is done the framework way: k and v are
 * repeated per query head, each head's dK, dV are rounded, then the group sum is rounded again.
 */
import { type Dtype, encodeArray, decodeArray } from '../../src/dtype.js';
import { isAllowed } from '../../src/params.js';
import type { Mask } from './reference.js';

export interface LowPrecisionResult {
  o: Float64Array;
  lse: Float64Array;
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

/** Rounds every element of `a` to `dtype` in place (one bulk conversion instead of a call per element). */
function roundAll(a: Float64Array, dtype: Dtype): void {
  a.set(decodeArray(encodeArray(a, dtype), dtype));
}

const rowAt = (b: number, i: number, head: number, l: number, heads: number, d: number) => ((b * l + i) * heads + head) * d;

/** One query row of one head: forward, then the backward contributions (dK, dV into the head's buffers). */
class RowWork {
  readonly S: Float64Array;
  readonly P: Float64Array;
  readonly dP: Float64Array;
  readonly dS: Float64Array;
  readonly allowed: Uint8Array;
  readonly oRow: Float64Array;
  readonly dqRow: Float64Array;

  constructor(
    readonly p: Mask,
    readonly dtype: Dtype,
  ) {
    this.S = new Float64Array(p.lk);
    this.P = new Float64Array(p.lk);
    this.dP = new Float64Array(p.lk);
    this.dS = new Float64Array(p.lk);
    this.allowed = new Uint8Array(p.lk);
    this.oRow = new Float64Array(p.d);
    this.dqRow = new Float64Array(p.d);
  }

  /** Scores S[j] for keys of kv head `kvHead`; returns the row maximum (-Infinity for an empty row). */
  scores(q: ArrayLike<number>, k: ArrayLike<number>, qo: number, b: number, i: number, kvHead: number): number {
    const { lk, hk, d, softmaxScale } = this.p;
    const { S, allowed } = this;
    let max = -Infinity;
    for (let j = 0; j < lk; j++) {
      allowed[j] = isAllowed(this.p, i, j) ? 1 : 0;
      S[j] = 0;
      if (!allowed[j]) continue;
      const ko = rowAt(b, j, kvHead, lk, hk, d);
      let dot = 0;
      for (let x = 0; x < d; x++) dot += q[qo + x] * k[ko + x];
      S[j] = softmaxScale * dot;
    }
    roundAll(S, this.dtype);
    for (let j = 0; j < lk; j++) if (allowed[j]) max = Math.max(max, S[j]);
    return max;
  }

  /** P = rnd(softmax(S)); returns the unrounded logsumexp. */
  softmax(max: number): number {
    const { S, P, allowed } = this;
    let sum = 0;
    for (let j = 0; j < S.length; j++) if (allowed[j]) sum += Math.exp(S[j] - max);
    for (let j = 0; j < S.length; j++) P[j] = allowed[j] ? Math.exp(S[j] - max) / sum : 0;
    roundAll(P, this.dtype);
    return max + Math.log(sum);
  }

  /** dP = rnd(dO V^T), dS = rnd(P ∘ (dP - rowsum(P ∘ dP))). */
  softmaxBackward(dout: ArrayLike<number>, v: ArrayLike<number>, qo: number, b: number, kvHead: number): void {
    const { lk, hk, d } = this.p;
    const { P, dP, dS, allowed } = this;
    for (let j = 0; j < lk; j++) {
      dP[j] = 0;
      if (!allowed[j]) continue;
      const vo = rowAt(b, j, kvHead, lk, hk, d);
      let dot = 0;
      for (let x = 0; x < d; x++) dot += dout[qo + x] * v[vo + x];
      dP[j] = dot;
    }
    roundAll(dP, this.dtype);
    let D = 0;
    for (let j = 0; j < lk; j++) D += P[j] * dP[j];
    for (let j = 0; j < lk; j++) dS[j] = allowed[j] ? P[j] * (dP[j] - D) : 0;
    roundAll(dS, this.dtype);
  }

  /** oRow = P V, dqRow = dS K (unrounded, unscaled). */
  products(k: ArrayLike<number>, v: ArrayLike<number>, b: number, kvHead: number): void {
    const { lk, hk, d } = this.p;
    const { P, dS, allowed, oRow, dqRow } = this;
    oRow.fill(0);
    dqRow.fill(0);
    for (let j = 0; j < lk; j++) {
      if (!allowed[j]) continue;
      const ko = rowAt(b, j, kvHead, lk, hk, d);
      const pj = P[j];
      const dsj = dS[j];
      for (let x = 0; x < d; x++) {
        oRow[x] += pj * v[ko + x];
        dqRow[x] += dsj * k[ko + x];
      }
    }
  }

  /** dkHead += scale * dS^T q_i, dvHead += P^T dout_i (this row's share). */
  keyGradients(q: ArrayLike<number>, dout: ArrayLike<number>, qo: number, dkHead: Float64Array, dvHead: Float64Array): void {
    const { lk, d, softmaxScale } = this.p;
    const { P, dS, allowed } = this;
    for (let j = 0; j < lk; j++) {
      if (!allowed[j]) continue;
      const dsj = softmaxScale * dS[j];
      const pj = P[j];
      const base = j * d;
      for (let x = 0; x < d; x++) {
        dkHead[base + x] += dsj * q[qo + x];
        dvHead[base + x] += pj * dout[qo + x];
      }
    }
  }
}

export function lowPrecisionAttention(
  p: Mask,
  dtype: Dtype,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dout: ArrayLike<number>,
): LowPrecisionResult {
  const { n, lq, lk, h, hk, d, softmaxScale } = p;
  const group = h / hk;
  const o = new Float64Array(n * lq * h * d);
  const lse = new Float64Array(n * h * lq);
  const dq = new Float64Array(n * lq * h * d);
  const dk = new Float64Array(n * lk * hk * d);
  const dv = new Float64Array(n * lk * hk * d);
  const row = new RowWork(p, dtype);
  const dkHead = new Float64Array(lk * d);
  const dvHead = new Float64Array(lk * d);
  const dkGroup = new Float64Array(lk * d);
  const dvGroup = new Float64Array(lk * d);

  for (let b = 0; b < n; b++) {
    for (let kvHead = 0; kvHead < hk; kvHead++) {
      dkGroup.fill(0);
      dvGroup.fill(0);
      for (let head = kvHead * group; head < (kvHead + 1) * group; head++) {
        dkHead.fill(0);
        dvHead.fill(0);
        for (let i = 0; i < lq; i++) {
          const qo = rowAt(b, i, head, lq, h, d);
          const max = row.scores(q, k, qo, b, i, kvHead);
          const lseAt = (b * h + head) * lq + i;
          if (max === -Infinity) {
            lse[lseAt] = -Infinity; // empty row: o, dq stay 0 and nothing flows into dk, dv
            continue;
          }
          lse[lseAt] = row.softmax(max);
          row.softmaxBackward(dout, v, qo, b, kvHead);
          row.products(k, v, b, kvHead);
          for (let x = 0; x < d; x++) {
            o[qo + x] = row.oRow[x];
            dq[qo + x] = softmaxScale * row.dqRow[x];
          }
          row.keyGradients(q, dout, qo, dkHead, dvHead);
        }
        roundAll(dkHead, dtype);
        roundAll(dvHead, dtype);
        for (let e = 0; e < lk * d; e++) {
          dkGroup[e] += dkHead[e];
          dvGroup[e] += dvHead[e];
        }
      }
      roundAll(dkGroup, dtype);
      roundAll(dvGroup, dtype);
      for (let j = 0; j < lk; j++) {
        const ko = rowAt(b, j, kvHead, lk, hk, d);
        for (let x = 0; x < d; x++) {
          dk[ko + x] = dkGroup[j * d + x];
          dv[ko + x] = dvGroup[j * d + x];
        }
      }
    }
  }
  for (const a of [o, lse, dq]) roundAll(a, dtype);
  return { o, lse, dq, dk, dv };
}
