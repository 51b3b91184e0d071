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
