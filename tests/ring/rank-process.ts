/**
 * One rank of a loopback group, started by distributed.test.ts with child_process.fork. Options arrive
 * as JSON in argv[2]; the outcome goes back over the IPC channel.
 */
import { initDistributed } from '../../src/index.js';
import { FlashAttentionError } from '../../src/errors.js';

const options = JSON.parse(process.argv[2]) as { coordinator: string; rank: number; worldSize: number; timeoutMs: number; uniqueIdHex?: string };
const { uniqueIdHex, ...group } = options;
const uniqueId = uniqueIdHex ? new Uint8Array(Buffer.from(uniqueIdHex, 'hex')) : undefined;

try {
  const ctx = await initDistributed({ ...group, uniqueId });
  process.send?.({ ok: true, rank: ctx.rank, worldSize: ctx.worldSize, idHex: Buffer.from(ctx.uniqueId).toString('hex') });
} catch (error) {
  const e = error as Error;
  process.send?.({ ok: false, name: e.name, code: error instanceof FlashAttentionError ? error.code : undefined, message: e.message });
}
process.disconnect?.();
