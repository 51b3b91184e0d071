import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Dtype } from '../dtype.js';
import type { BenchCase } from './bench.js';

export interface PeerTiming {
  fwdMs?: number;
  bwdMs?: number;
  error?: string;
}

export interface PeerResults {
  info: { torch: string; cudnn: number; device: string };
  /** One entry per case, in order: FlashAttention-2 (PyTorch's flash backend) and cuDNN. */
  cases: { flash: PeerTiming; cudnn: PeerTiming }[];
}

const script = fileURLToPath(new URL('../../../bench/peers.py', import.meta.url));

/** Whether python3 with a CUDA-enabled PyTorch is on this machine. */
export function peersAvailable(): boolean {
  const probe = spawnSync('python3', ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'], {
    stdio: 'ignore',
  });
  return probe.status === 0;
}

/** Runs bench/peers.py over the same cases with the same repeat counts. */
export function timePeers(
  cases: BenchCase[],
  settings: { dtype: Dtype; repeats: number; warmup: number; inputSets: number },
): PeerResults {
  const request = JSON.stringify({ ...settings, cases });
  const run = spawnSync('python3', [script], { input: request, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (run.status !== 0) {
    throw new Error(`bench/peers.py failed (exit ${run.status}): ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
  return { info: lines[0].info, cases: lines.slice(1) };
}
