import type { AttentionProblem, BackwardResult } from '../../backend.js';
import type { Storage } from '../../storage.js';
import { Bc, Br, keyRange, queryRange, rowOffset, storeRounded, valuesOf } from './layout.js';
import { axpy, dot } from './vector.js';

/**
 * FlashAttention-2 backward (Dao 2023, Algorithm 2) on the CPU. The outer loop walks key/value blocks
 * K_j, V_j, keeping their gradients dK_j, dV_j in a block accumulator; the inner loop walks the query
 * blocks that can see them (every query head of the group, for grouped-query attention) and recomputes
 * P = exp(S - lse) from the saved log-sum-exp instead of storing it. dQ is accumulated in float64.
 * One thread and a fixed loop order make every result bitwise repeatable, so `p.deterministic` asks for
 * nothing more here.
 */
export function cpuBackward(
  p: AttentionProblem,
  douts: Storage,
  qs: Storage,
  ks: Storage,
  vs: Storage,
  outs: Storage,
  lses: Storage,
): BackwardResult {
  const { n, lq, lk, h, hk, d, softmaxScale } = p;
  const dO = valuesOf(douts);
  const Q = valuesOf(qs);
  const K = valuesOf(ks);
  const V = valuesOf(vs);
  const O = valuesOf(outs);
  const LSE = valuesOf(lses);
  const group = h / hk;

  // D_i = rowsum(dO_i ∘ O_i), the softmax-gradient correction term; and the lse P is rebuilt from.
  const D = new Float64Array(n * h * lq);
  // P_ij = exp((s_ij - shift_i) - logSum_i), the row's lse split in two (rowSoftmax).
  const shifts = new Float64Array(n * h * lq);
  const logSums = new Float64Array(n * h * lq);
  const scores = new Float64Array(lk);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < lq; i++) {
      for (let head = 0; head < h; head++) {
        const off = rowOffset(b, i, head, lq, h, d);
        const at = (b * h + head) * lq + i;
        D[at] = dot(dO, off, O, off, d);
        [shifts[at], logSums[at]] = p.partialKeys ? [LSE[at], 0] : rowSoftmax(p, Q, off, K, b, Math.floor(head / group), i, LSE[at], scores);
      }
    }
  }

  const dQ = new Float64Array(n * lq * h * d);
  const dK = new Float64Array(n * lk * hk * d);
  const dV = new Float64Array(n * lk * hk * d);
  const P = new Float64Array(Br * Bc);
  const dS = new Float64Array(Br * Bc);
  const dKj = new Float64Array(Bc * d);
  const dVj = new Float64Array(Bc * d);
  const rowLo = new Float64Array(Br);
  const rowHi = new Float64Array(Br);

  for (let b = 0; b < n; b++) {
    for (let kvHead = 0; kvHead < hk; kvHead++) {
      for (let j0 = 0; j0 < lk; j0 += Bc) {
        const cols = Math.min(Bc, lk - j0);
        dKj.fill(0);
        dVj.fill(0);
        // Queries any key of this block is visible to; other query blocks are skipped.
        const firstQuery = Math.max(0, queryRange(p, j0)[0]);
        const lastQuery = Math.min(lq - 1, queryRange(p, j0 + cols - 1)[1]);
        for (let head = kvHead * group; head < (kvHead + 1) * group; head++) {
          for (let i0 = Math.floor(firstQuery / Br) * Br; i0 <= lastQuery; i0 += Br) {
            const rows = Math.min(Br, lq - i0);
            for (let r = 0; r < rows; r++) [rowLo[r], rowHi[r]] = keyRange(p, i0 + r);
            const masked = rowLo[rows - 1] > j0 || rowHi[0] < j0 + cols - 1;

            // P = exp(softmaxScale * Q_i K_j^T - lse_i); masked pairs and empty rows give 0.
            for (let r = 0; r < rows; r++) {
              const i = i0 + r;
              const shift = shifts[(b * h + head) * lq + i];
              const logSum = logSums[(b * h + head) * lq + i];
              const qOff = rowOffset(b, i, head, lq, h, d);
              for (let c = 0; c < cols; c++) {
                const j = j0 + c;
                if (shift === -Infinity || (masked && (j < rowLo[r] || j > rowHi[r]))) {
                  P[r * Bc + c] = 0;
                  continue;
                }
                const kOff = rowOffset(b, j, kvHead, lk, hk, d);
                P[r * Bc + c] = Math.exp(softmaxScale * dot(Q, qOff, K, kOff, d) - shift - logSum);
              }
            }

            // dV_j += P^T dO_i;  dP = dO_i V_j^T;  dS = P ∘ (dP - D_i).
            for (let r = 0; r < rows; r++) {
              const i = i0 + r;
              const doOff = rowOffset(b, i, head, lq, h, d);
              const Di = D[(b * h + head) * lq + i];
              for (let c = 0; c < cols; c++) {
                const pv = P[r * Bc + c];
                if (pv === 0) {
                  dS[r * Bc + c] = 0;
                  continue;
                }
                axpy(dVj, c * d, pv, dO, doOff, d);
                const dP = dot(dO, doOff, V, rowOffset(b, j0 + c, kvHead, lk, hk, d), d);
                dS[r * Bc + c] = pv * (dP - Di);
              }
            }

            // dQ_i += softmaxScale * dS K_j;  dK_j += softmaxScale * dS^T Q_i.
            for (let r = 0; r < rows; r++) {
              const qOff = rowOffset(b, i0 + r, head, lq, h, d);
              for (let c = 0; c < cols; c++) {
                const ds = softmaxScale * dS[r * Bc + c];
                if (ds === 0) continue;
                axpy(dQ, qOff, ds, K, rowOffset(b, j0 + c, kvHead, lk, hk, d), d);
                axpy(dKj, c * d, ds, Q, qOff, d);
              }
            }
          }
        }
        for (let c = 0; c < cols; c++) {
          const dst = rowOffset(b, j0 + c, kvHead, lk, hk, d);
          for (let x = 0; x < d; x++) {
            dK[dst + x] = dKj[c * d + x];
            dV[dst + x] = dVj[c * d + x];
          }
        }
      }
    }
  }
  return {
    dq: storeRounded(dQ, p.outDtype, p.device),
    dk: storeRounded(dK, p.outDtype, p.device),
    dv: storeRounded(dV, p.outDtype, p.device),
  };
}

/**
 * The lse that row i's P is rebuilt from, as [shift, logSum] with lse = shift + logSum, for a call over all of the row's
 * keys. The saved lse is float32: past |lse| ~ 256 its rounding alone puts a relative error of 1e-5 into every P, and
 * past float32's range it is infinite while the row is not. Where the saved lse is this call's own (the float64
 * log-sum-exp of the row's scores, recomputed here, rounds to it), the row's max score and the log of its sum of
 * exp(s - max) are used: kept apart, s - max keeps every bit that max + log(sum) would lose. Otherwise (an lse from
 * elsewhere) the saved one is used as given. A row that sees no key gets -Infinity (P = 0).
 */
function rowSoftmax(
  p: AttentionProblem, Q: Float32Array, qOff: number, K: Float32Array, b: number, kvHead: number, i: number,
  saved: number, scores: Float64Array,
): [shift: number, logSum: number] {
  const [lo, hi] = keyRange(p, i);
  const first = Math.max(0, lo);
  const last = Math.min(p.lk - 1, hi);
  if (first > last) return [-Infinity, 0];
  let max = -Infinity;
  for (let j = first; j <= last; j++) {
    scores[j] = p.softmaxScale * dot(Q, qOff, K, rowOffset(b, j, kvHead, p.lk, p.hk, p.d), p.d);
    max = Math.max(max, scores[j]);
  }
  let sum = 0;
  for (let j = first; j <= last; j++) sum += Math.exp(scores[j] - max);
  const logSum = Math.log(sum);
  return Math.fround(max + logSum) === saved ? [max, logSum] : [saved, 0];
}
