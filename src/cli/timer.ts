/** Milliseconds per repeat of `run`, after the caller's warm-up. */
export type Timer = (run: () => void, repeats: number) => Promise<number[]>;

/** Host clock timing: right for the CPU backend, whose calls finish before they return. */
export const hostTimer: Timer = async (run, repeats) => {
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return times;
};

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
