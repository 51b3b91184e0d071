/**
 * Device-side timing of the ring's compute spans for the benchmark on CUDA: a pair of CUDA events around
 * each (step, rank) span on the rank's device stream, resolved into stats.computeSeconds once the work
 * has run. (Host time would only measure how long enqueuing took.)
 */
import { CU_EVENT_DEFAULT, type CUevent } from '../backend/cuda/driver.js';
import { type CudaDevice, cudaDevice } from '../backend/cuda/runtime.js';
import { releaseAll, thenReleaseAsync } from '../release.js';
import type { RingClock, RingStats } from './schedule.js';

interface Span {
  step: number;
  rank: number;
  gpu: CudaDevice;
  start: CUevent;
  end?: CUevent;
}

export class CudaRingClock implements RingClock {
  #spans: Span[] = [];
  readonly #open = new Map<string, Span>();

  constructor(private readonly devices: readonly string[]) {}

  begin(step: number, rank: number): void {
    const gpu = cudaDevice(this.devices[rank]);
    const start = gpu.createEvent(CU_EVENT_DEFAULT);
    const span: Span = { step, rank, gpu, start };
    this.#spans.push(span);
    this.#open.set(`${step},${rank}`, span);
    gpu.recordEvent(start);
  }

  end(step: number, rank: number): void {
    const span = this.#open.get(`${step},${rank}`);
    this.#open.delete(`${step},${rank}`);
    if (!span) throw new Error(`CudaRingClock: end(${step}, ${rank}) without begin`);
    const end = span.gpu.createEvent(CU_EVENT_DEFAULT);
    span.end = end;
    span.gpu.recordEvent(end);
  }

  /** Waits for every span and adds its seconds to stats.computeSeconds[step][rank]; then forgets them. */
  async collect(stats: RingStats): Promise<void> {
    // A fault the wait reports goes on; destroying the events after it fails too, and only warns.
    await thenReleaseAsync(
      async () => {
        for (const span of this.#spans) {
          if (span.end === undefined) continue;
          await span.gpu.whenComplete(span.end);
          const row = (stats.computeSeconds[span.step] ??= []);
          row[span.rank] = (row[span.rank] ?? 0) + span.gpu.elapsedMilliseconds(span.start, span.end) / 1e3;
        }
      },
      () => [() => this.dispose()],
    );
  }

  /** Destroys every event, even after one destroy fails (then throws the first error). */
  dispose(): void {
    this.#open.clear();
    const events = this.#spans.splice(0).flatMap(({ gpu, start, end }) => (end === undefined ? [start] : [start, end]).map((event) => ({ gpu, event })));
    releaseAll(events.map(({ gpu, event }) => () => gpu.destroyEvent(event)));
  }
}

/**
 * Runs `run` (a ring call that only enqueues) with a CudaRingClock in stats.clock, then adds the device time of
 * each span to stats.computeSeconds. The clock's events are destroyed whatever happens: a ring call that throws
 * leaves spans that no collect() will reach.
 */
export async function timeComputeOnDevices(devices: readonly string[], stats: RingStats, run: () => void): Promise<void> {
  const clock = new CudaRingClock(devices);
  stats.clock = clock;
  await thenReleaseAsync(
    async () => {
      run();
      await clock.collect(stats);
    },
    () => [() => clock.dispose()],
  );
}
