/**
 * The problem as the CUDA kernels take it. A window side that every (query, key) pair already satisfies is made
 * unbounded (-1): the mask is the same, and a window of any size (the contract allows any integer >= -1) then fits
 * the kernels' 32-bit fields, and their sums such as i + diagonal_offset + window_right stay far from overflow.
 * Applied once at the backend's entry, so the choice of kernels and their launches see the same problem.
 */
import type { AttentionProblem } from '../../backend.js';

export function kernelProblem(p: AttentionProblem): AttentionProblem {
  // Key j is visible to query i iff j >= i + offset - left and j <= i + offset + right (semantics.md), with i in
  // [0, lq) and j in [0, lk): the left side holds for every pair once left >= lq - 1 + offset, the right side
  // once right >= lk - 1 - offset.
  const leftAlwaysHolds = p.windowLeft >= 0 && p.windowLeft >= p.lq - 1 + p.diagonalOffset;
  const rightAlwaysHolds = p.windowRight >= 0 && p.windowRight >= p.lk - 1 - p.diagonalOffset;
  if (!leftAlwaysHolds && !rightAlwaysHolds) return p;
  return { ...p, windowLeft: leftAlwaysHolds ? -1 : p.windowLeft, windowRight: rightAlwaysHolds ? -1 : p.windowRight };
}
