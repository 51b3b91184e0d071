/** Starts the processes of a ring across processes on loopback and collects what each reports. */
import { fork } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { RingProcessOptions, RingProcessReport } from './distributed-ring-process.js';

const SCRIPT = fileURLToPath(new URL('./distributed-ring-process.js', import.meta.url));

/** A port that was free a moment ago on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface ProcessOutcome {
  report?: RingProcessReport;
  exitCode: number | null;
  /** whether the process ended by itself after reporting (no handle left open) */
  exitedCleanly: boolean;
}

type PerProcess = Omit<RingProcessOptions, 'coordinator' | 'rank'> & { ranks?: number[]; fault?: RingProcessOptions['fault'] };

/**
 * Runs one process per entry of `each(rank)`; resolves when every process has exited (idle processes
 * are killed `idleKillMs` after the others are done). A process still alive `exitGraceMs` after its
 * report is killed and marked as not clean.
 */
export async function runRing(processes: number, each: (rank: number) => PerProcess, exitGraceMs = 5000): Promise<ProcessOutcome[]> {
  const coordinator = `127.0.0.1:${await freePort()}`;
  const children = Array.from({ length: processes }, (_, rank) => {
    const options: RingProcessOptions = { coordinator, rank, ...each(rank) };
    const child = fork(SCRIPT, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    const idle = !!(options.fault && 'idle' in options.fault);
    let report: RingProcessReport | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let killed = false;
    const exited = new Promise<ProcessOutcome>((resolve) => {
      child.on('message', (m) => {
        report = m as RingProcessReport;
        if (!idle) {
          killTimer = setTimeout(() => {
            killed = true;
            child.kill('SIGKILL');
          }, exitGraceMs);
        }
      });
      child.on('exit', (code) => {
        clearTimeout(killTimer);
        resolve({ report, exitCode: code, exitedCleanly: !killed && code === 0 });
      });
    });
    return { child, idle, exited };
  });
  const busy = children.filter((c) => !c.idle);
  const outcomes = await Promise.all(busy.map((c) => c.exited));
  for (const c of children) if (c.idle) c.child.kill('SIGKILL');
  const idleOutcomes = await Promise.all(children.filter((c) => c.idle).map((c) => c.exited));
  let b = 0;
  let i = 0;
  return children.map((c) => (c.idle ? idleOutcomes[i++] : outcomes[b++]));
}
