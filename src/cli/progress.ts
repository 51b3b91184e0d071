/**
 * A progress bar on stderr for long runs: redrawn in place on a terminal, one line per step otherwise
 * (so CI logs show progress without control characters). stdout stays clean for tables and --json.
 */
export class Progress {
  readonly #total: number;
  #done = 0;
  readonly #started = performance.now();
  readonly #tty = process.stderr.isTTY === true;

  constructor(total: number) {
    this.#total = total;
  }

  step(label: string): void {
    this.#done += 1;
    const width = 24;
    const filled = Math.round((width * this.#done) / this.#total);
    const elapsed = ((performance.now() - this.#started) / 1000).toFixed(1);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total} ${elapsed}s ${label}`;
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${line}${this.#done === this.#total ? '\n' : ''}`);
    } else {
      process.stderr.write(`${line}\n`);
    }
  }
}
