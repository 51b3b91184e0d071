import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Dtype } from '../dtype.js';
import type { BenchCase } from './bench.js';

export interface PeerTiming {
  fwdMs?: number;
  bwdMs?: number;
  error?: string;
}

/** One case's peers: FlashAttention-2 (PyTorch's flash backend) and cuDNN. */
export interface PeerCase {
  flash: PeerTiming;
  cudnn: PeerTiming;
}

export interface PeerResults {
  info: { torch: string; cudnn: number; device: string };
  /** One entry per case, in order. */
  cases: PeerCase[];
}

const script = fileURLToPath(new URL('../../../bench/peers.py', import.meta.url));

/** Whether python3 with a CUDA-enabled PyTorch is on this machine. */
export function peersAvailable(): boolean {
  const probe = spawnSync('python3', ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'], {
    stdio: 'ignore',
  });
  return probe.status === 0;
}

/**
 * bench/peers.py kept running beside the benchmark, timing one case at a time: `bench` times each case's peers
 * right after its own timing of that case, so that both meet the card in the same thermal and clock state (in a
 * second pass over the grid, FlashAttention-2 timed some l = 512 cases 6-11% slower: bench/NOTES.md T3).
 */
export class PeerSession {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    private readonly exited: Promise<number | null>,
    private readonly stderr: { tail: string },
    readonly info: PeerResults['info'],
  ) {}

  /**
   * Starts bench/peers.py with the benchmark's settings and reads its description of the machine. `command`: the
   * program and arguments that speak its protocol (tests give a stand-in).
   */
  static async start(
    settings: { dtype: Dtype; repeats: number; warmup: number; inputSets: number; sustainMs: number },
    command: readonly [string, ...string[]] = ['python3', script],
  ): Promise<PeerSession> {
    const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // A write after the script died fails with EPIPE; nextLine reports the death with its stderr instead.
    child.stdin.on('error', () => {});
    const stderr = { tail: '' };
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.tail = (stderr.tail + chunk.toString()).slice(-4000);
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stdin.write(`${JSON.stringify(settings)}\n`);
    const info = (JSON.parse(await nextLine(lines, exited, stderr)) as { info: PeerResults['info'] }).info;
    return new PeerSession(child, lines, exited, stderr, info);
  }

  /** Times one case's peers; throws if bench/peers.py has died. */
  async time(c: BenchCase): Promise<PeerCase> {
    this.child.stdin.write(`${JSON.stringify(c)}\n`);
    const { flash, cudnn } = JSON.parse(await nextLine(this.lines, this.exited, this.stderr)) as PeerCase;
    return { flash, cudnn };
  }

  /** Ends bench/peers.py (end of input) and waits for it to exit. */
  async close(): Promise<void> {
    this.child.stdin.end();
    await this.exited;
  }
}

/** bench/peers.py's next line of output; throws with the end of its stderr if it has exited. */
async function nextLine(lines: AsyncIterator<string>, exited: Promise<number | null>, stderr: { tail: string }): Promise<string> {
  const line = await lines.next();
  if (line.done) throw new Error(`bench/peers.py failed (exit ${await exited}): ${lastLines(stderr.tail)}`);
  return line.value;
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ');
}
