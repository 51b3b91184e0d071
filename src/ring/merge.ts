/**
 * Merging two partial attention results over disjoint key sets, in log space.
 *
 * A partial result over keys K_a is (o_a, lse_a) with lse_a = log sum_{j in K_a} exp(s_j) and
 * o_a = sum_{j in K_a} exp(s_j - lse_a) v_j. Over K_a ∪ K_b:
 *   lse = log(exp(lse_a) + exp(lse_b)) = m + log(exp(lse_a - m) + exp(lse_b - m)),  m = max(lse_a, lse_b)
 *   o   = exp(lse_a - lse) o_a + exp(lse_b - lse) o_b
 * Subtracting m keeps every exponent <= 0 (no overflow); the weights are in [0, 1] and sum to 1.
 * A side that saw no key has lse = -Infinity and o = 0: its weight is exp(-Infinity) = 0. When both sides
 * are -Infinity, m = -Infinity and lse_a - m would be NaN, so that case returns lse = -Infinity and
 * weights 0, 0 explicitly: the row stays o = 0, lse = -Infinity, as the contract requires.
 */

/** [lse, weight of a, weight of b] for merging partials with log-sum-exps a and b. Pure. */
export function mergeLse(a: number, b: number): [number, number, number] {
  const m = Math.max(a, b);
  if (m === -Infinity) return [-Infinity, 0, 0];
  const lse = m + Math.log(Math.exp(a - m) + Math.exp(b - m));
  return [lse, Math.exp(a - lse), Math.exp(b - lse)];
}

/**
 * Merges the partial (partOut, partLse) into (accOut, accLse) in place. The partial's out is [n, l, h, d] and
 * its lse [n, h, l], as the kernels produce them; the accumulator has `accRows` rows (default l) of which the
 * partial's start at `rowOffset` (default 0).
 */
export function mergePartials(
  accOut: Float32Array,
  accLse: Float32Array,
  partOut: ArrayLike<number>,
  partLse: ArrayLike<number>,
  n: number,
  l: number,
  h: number,
  d: number,
  accRows = l,
  rowOffset = 0,
): void {
  for (let b = 0; b < n; b++) {
    for (let head = 0; head < h; head++) {
      for (let i = 0; i < l; i++) {
        const accRow = (b * h + head) * accRows + rowOffset + i;
        const [lse, wa, wb] = mergeLse(accLse[accRow], partLse[(b * h + head) * l + i]);
        accLse[accRow] = lse;
        const o = ((b * accRows + rowOffset + i) * h + head) * d;
        const p = ((b * l + i) * h + head) * d;
        for (let x = 0; x < d; x++) accOut[o + x] = wa * accOut[o + x] + wb * partOut[p + x];
      }
    }
  }
}
