/**
 * FLOP counts in the FlashAttention convention (shared performance.md): forward 4·n·h·lq·lk·d, halved
 * when causal; backward 2.5x the forward. Peers are counted the same way, so ratios are fair.
 */
export function forwardFlops(n: number, h: number, lq: number, lk: number, d: number, causal: boolean): number {
  return (4 * n * h * lq * lk * d) / (causal ? 2 : 1);
}

export function backwardFlops(n: number, h: number, lq: number, lk: number, d: number, causal: boolean): number {
  return 2.5 * forwardFlops(n, h, lq, lk, d, causal);
}
