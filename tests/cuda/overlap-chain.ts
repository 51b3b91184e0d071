// One process's run of overlap.test.ts's chain, so that the chain can run under FLASH_ATTN_PDL=1 and =0 (read when
// the device is first used). Usage: node overlap-chain.js OUT_DIR deterministic|default DEVICE L
// Writes OUT_DIR/<step>-<out|lse|dq|dk|dv>.bin (dq as float32, the rest as computed) and OUT_DIR/device.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Tensor, flashMhaBwd, flashMhaFwd, randn } from '../../src/index.js';

const CHAIN_STEPS = 8;
const CHAIN_FIELDS = ['out', 'lse', 'dq', 'dk', 'dv'] as const;

/**
 * q_{i+1} = attention(q_i, k, v), and each step's backward with dout = its out: every launch reads what the launch
 * before it wrote (bwd_pre reads out, the main kernel what bwd_pre wrote, bwd_dq its dq_accum, the next forward the
 * previous out). Odd steps are causal.
 */
async function writeChain(outDir: string, deterministic: boolean, device: string, l: number): Promise<void> {
  const [n, h, d] = [2, 8, 128];
  const k = randn([n, l, h / 2, d], { seed: 11, dtype: 'bfloat16', device });
  const v = randn([n, l, h / 2, d], { seed: 12, dtype: 'bfloat16', device });
  const q0 = randn([n, l, h, d], { seed: 10, dtype: 'bfloat16', device });
  let q: Tensor = q0;
  const kept: Tensor[][] = [];
  for (let i = 0; i < CHAIN_STEPS; i++) {
    const isCausal = i % 2 === 1;
    const { out, lse } = flashMhaFwd(q, k, v, { isCausal });
    const g = flashMhaBwd(out, q, k, v, out, lse, { isCausal, deterministic });
    kept.push([out, lse, g.dq, g.dk, g.dv]);
    q = out;
  }
  for (const [i, tensors] of kept.entries()) {
    for (const [j, field] of CHAIN_FIELDS.entries()) {
      const values = field === 'dq' ? await tensors[j].toFloat32Array() : await tensors[j].data();
      writeFileSync(join(outDir, `${i}-${field}.bin`), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
  }
  for (const t of [q0, k, v, ...kept.flat()]) t.dispose();
}

const [outDir, mode, device, l] = process.argv.slice(2);
if (outDir !== undefined) {
  await writeChain(outDir, mode === 'deterministic', device, Number(l));
  if (device.startsWith('cuda')) {
    const { cudaDevice } = await import('../../src/backend/cuda/runtime.js');
    const gpu = cudaDevice('cuda:0');
    writeFileSync(join(outDir, 'device.json'), JSON.stringify({ computeCapability: gpu.computeCapability, canOverlapLaunches: gpu.canOverlapLaunches }));
  }
  process.exit(0);
}
