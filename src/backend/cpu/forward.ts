import type { AttentionProblem, ForwardResult } from '../../backend.js';
import { HostStorage, type Storage } from '../../storage.js';
import { Bc, Br, keyRange, rowOffset, storeRounded, valuesOf } from './layout.js';
import { axpy, dot } from './vector.js';

/**
 * FlashAttention-2 forward (Dao 2023, Algorithm 1) on the CPU. For each block Q_i of Br query rows,
 * stream the key/value blocks K_j, V_j of Bc rows that the mask allows, keeping per row the running
 * maximum m, the running sum l of exp(S - m), and the unnormalized output O. The lq x lk score matrix
 * never exists: the extra memory is one Br x Bc block of S and one Br x d block of O.
 */
export function cpuForward(p: AttentionProblem, qs: Storage, ks: Storage, vs: Storage): ForwardResult {
  const { n, lq, lk, h, hk, d, softmaxScale } = p;
  const Q = valuesOf(qs);
  const K = valuesOf(ks);
  const V = valuesOf(vs);
  const out = new Float64Array(n * lq * h * d);
  const lse = new Float32Array(n * h * lq);
  const group = h / hk;

  const S = new Float64Array(Br * Bc);
  const O = new Float64Array(Br * d);
  const m = new Float64Array(Br);
  const l = new Float64Array(Br);
  const rowLo = new Float64Array(Br);
  const rowHi = new Float64Array(Br);

  for (let b = 0; b < n; b++) {
    for (let head = 0; head < h; head++) {
      const kvHead = Math.floor(head / group);
      for (let i0 = 0; i0 < lq; i0 += Br) {
        const rows = Math.min(Br, lq - i0);
        m.fill(-Infinity);
        l.fill(0);
        O.fill(0);
        for (let r = 0; r < rows; r++) [rowLo[r], rowHi[r]] = keyRange(p, i0 + r);
        // Keys any row of this block can see; blocks outside are skipped without computing.
        const firstKey = Math.max(0, rowLo[0]);
        const lastKey = Math.min(lk - 1, rowHi[rows - 1]);
        for (let j0 = Math.floor(firstKey / Bc) * Bc; j0 <= lastKey; j0 += Bc) {
          const cols = Math.min(Bc, lk - j0);
          // Mask arithmetic only where some row of the block sees part of the key block.
          const masked = rowLo[rows - 1] > j0 || rowHi[0] < j0 + cols - 1;

          // S = softmaxScale * Q_i K_j^T, masked entries -Infinity.
          for (let r = 0; r < rows; r++) {
            const qOff = rowOffset(b, i0 + r, head, lq, h, d);
            for (let c = 0; c < cols; c++) {
              const j = j0 + c;
              if (masked && (j < rowLo[r] || j > rowHi[r])) {
                S[r * Bc + c] = -Infinity;
                continue;
              }
              const kOff = rowOffset(b, j, kvHead, lk, hk, d);
              S[r * Bc + c] = softmaxScale * dot(Q, qOff, K, kOff, d);
            }
          }

          // Online softmax: m_new = max(m, rowmax S); rescale O and l by exp(m - m_new); O += P V_j.
          for (let r = 0; r < rows; r++) {
            let mNew = m[r];
            for (let c = 0; c < cols; c++) mNew = Math.max(mNew, S[r * Bc + c]);
            if (mNew === -Infinity) continue; // every key so far is masked for this row
            const alpha = Math.exp(m[r] - mNew);
            let rowSum = 0;
            const o = r * d;
            if (alpha !== 1) for (let x = 0; x < d; x++) O[o + x] *= alpha;
            for (let c = 0; c < cols; c++) {
              const s = S[r * Bc + c];
              if (s === -Infinity) continue;
              const pv = Math.exp(s - mNew);
              rowSum += pv;
              axpy(O, o, pv, V, rowOffset(b, j0 + c, kvHead, lk, hk, d), d);
            }
            l[r] = alpha * l[r] + rowSum;
            m[r] = mNew;
          }
        }

        // O_i = diag(l)^-1 O, lse_i = m + log(l); a row that saw no key gives o = 0, lse = -Infinity.
        for (let r = 0; r < rows; r++) {
          const i = i0 + r;
          const dst = rowOffset(b, i, head, lq, h, d);
          const empty = l[r] === 0;
          for (let x = 0; x < d; x++) out[dst + x] = empty ? 0 : O[r * d + x] / l[r];
          lse[(b * h + head) * lq + i] = empty ? -Infinity : m[r] + Math.log(l[r]);
        }
      }
    }
  }
  return {
    out: storeRounded(out, p.outDtype, p.device),
    lse: new HostStorage(p.device, 'float32', lse),
  };
}
