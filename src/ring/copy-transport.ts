import type { Storage } from '../storage.js';
import type { Block, InFlight, RingTransport } from './transport.js';

/**
 * In-process transport: every rank lives in this process, and a step is a copy onto the next rank's
 * device. Used for CPU virtual devices (and, with a device-to-device copy, for several ranks sharing one
 * GPU). The ring loop drives it exactly as it drives NCCL: begin, compute, finish.
 */
export class CopyTransport implements RingTransport {
  constructor(
    readonly devices: readonly string[],
    private readonly copy: (s: Storage, device: string) => Storage,
  ) {}

  begin(blocks: readonly Block[]): InFlight {
    const w = this.devices.length;
    const received: Storage[][] = blocks.map(() => []);
    blocks.forEach((block, rank) => {
      const next = (rank + 1) % w;
      received[next] = block.map((s) => this.copy(s, this.devices[next]));
    });
    return { finish: () => received };
  }

  dispose(): void {
    // Nothing is held between steps.
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
