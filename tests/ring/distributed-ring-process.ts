/**
 * One process of a ring across processes, started by distributed-ring.test.ts with child_process.fork.
 * It joins the group, shards the (seeded, identical everywhere) inputs over its own ranks, runs the ring
 * forward and backward, all-gathers the results and reports them to the parent over IPC. `fault` makes
 * it misbehave on purpose: exit at the n-th transfer, pass other shapes, or join and then stay idle.
 */
import {
  type Tensor,
  gatherSequenceAsync,
  initDistributed,
  joinRing,
  ringFlashMhaBwdAsync,
  ringFlashMhaFwdAsync,
  shardSequence,
} from '../../src/index.js';
import { FlashAttentionError } from '../../src/errors.js';
import type { SequenceLayout } from '../../src/ring/layout.js';
import { type Case, makeInputs, options } from './support.js';

export interface RingProcessOptions {
  coordinator: string;
  rank: number;
  processes: number;
  /** devices (ranks) this process holds */
  local: number;
  /** cpu (the default: TCP between processes) or cuda (this process's GPUs: cuda:rank*local .. ; NCCL) */
  deviceKind?: 'cpu' | 'cuda';
  /** explicit global ranks of the local devices, and the ring's size */
  ranks?: number[];
  worldSize?: number;
  layout: SequenceLayout;
  case: Case;
  timeoutMs: number;
  fault?: { exitAtTransfer: number } | { caseOverride: Partial<Case> } | { idle: true };
}

export interface RingProcessReport {
  ok: boolean;
  rank: number;
  results?: Record<'out' | 'lse' | 'dq' | 'dk' | 'dv', Float32Array>;
  /** the global ranks this process computed */
  ranks?: number[];
  name?: string;
  code?: string;
  message?: string;
  elapsedMs: number;
}

const o = JSON.parse(process.argv[2]) as RingProcessOptions;
const started = Date.now();
/** Resolves once the report has been handed to the IPC channel: disconnecting earlier can drop a large one. */
const report = (r: Omit<RingProcessReport, 'rank' | 'elapsedMs'>) =>
  new Promise<void>((resolve) => {
    if (!process.send) resolve();
    else process.send({ ...r, rank: o.rank, elapsedMs: Date.now() - started }, undefined, {}, () => resolve());
  });

const onCuda = o.deviceKind === 'cuda';
const ctx = await initDistributed({ coordinator: o.coordinator, rank: o.rank, worldSize: o.processes, timeoutMs: o.timeoutMs, nccl: onCuda });
const devices = Array.from({ length: o.local }, (_, i) => (onCuda ? `cuda:${o.rank * o.local + i}` : `cpu:${i}`));
let group: Awaited<ReturnType<typeof joinRing>> | undefined;
try {
  group = await joinRing(ctx, devices, { ranks: o.ranks, worldSize: o.worldSize, timeoutMs: o.timeoutMs });
  const fault = o.fault;
  if (fault && 'idle' in fault) {
    await report({ ok: true, ranks: [...group.ranks] });
    // Stay in the group without ever sending: the parent ends this process.
    setInterval(() => undefined, 1000);
  } else {
    if (fault && 'exitAtTransfer' in fault) {
      const transport = group.transport as { begin: (...args: never[]) => unknown };
      const begin = transport.begin.bind(transport);
      let transfers = 0;
      transport.begin = (...args: never[]) => {
        if (++transfers === fault.exitAtTransfer) process.exit(7);
        return begin(...args);
      };
    }
    const c: Case = { ...o.case, ...(fault && 'caseOverride' in fault ? fault.caseOverride : {}) };
    const x = makeInputs(c);
    const shard = (t: Tensor) => shardSequence(t, group!.devices, { layout: o.layout, group });
    const [q, k, v, dout] = [x.q, x.k, x.v, x.dout].map(shard);
    const fwd = await ringFlashMhaFwdAsync(q, k, v, options(c));
    const grads = await ringFlashMhaBwdAsync(dout, q, k, v, fwd.out, fwd.lse, options(c));
    const results = {} as NonNullable<RingProcessReport['results']>;
    for (const [name, s] of [['out', fwd.out], ['lse', fwd.lse], ['dq', grads.dq], ['dk', grads.dk], ['dv', grads.dv]] as const) {
      const whole = await gatherSequenceAsync(s);
      results[name] = await whole.toFloat32Array();
      whole.dispose();
    }
    for (const t of [q, k, v, dout, fwd.out, fwd.lse, grads.dq, grads.dk, grads.dv, x.q, x.k, x.v, x.dout]) t.dispose();
    await report({ ok: true, results, ranks: [...group.ranks] });
  }
} catch (error) {
  const e = error as Error;
  await report({ ok: false, name: e.name, code: error instanceof FlashAttentionError ? error.code : undefined, message: e.message });
} finally {
  if (!(o.fault && 'idle' in o.fault)) {
    group?.dispose();
    // Nothing else may hold the event loop: the parent checks that this process exits by itself.
    process.disconnect?.();
  }
}
