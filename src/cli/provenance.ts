/** What a saved benchmark records of where it ran: the commit measured and the machine. */
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { PeerResults } from './peers.js';

/** This package's folder (dist/src/cli/ is three below it). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * The commit measured: FLASH_ATTN_COMMIT where the tree was copied without .git (a GPU host), else the commit of this
 * package's own clone. Asked of the package's folder, not of the working directory, and only where that folder is a
 * clone's top: an installed package (node_modules/flash-attn) sits inside its user's repository, whose commit it is not.
 */
export function commit(): string {
  if (process.env.FLASH_ATTN_COMMIT) return process.env.FLASH_ATTN_COMMIT;
  try {
    const [top, hash] = execFileSync('git', ['-C', PACKAGE_ROOT, 'rev-parse', '--show-toplevel', '--short', 'HEAD'], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
    }).trim().split('\n');
    return realpathSync(top) === realpathSync(PACKAGE_ROOT) ? hash : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machine(device: string, peerInfo?: PeerResults['info']): Record<string, string | number> {
  const cpu = os.cpus();
  return {
    host: `${cpu[0]?.model ?? 'unknown cpu'} x${cpu.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    device,
    ...(peerInfo ? { gpu: peerInfo.device, torch: peerInfo.torch, cudnn: peerInfo.cudnn } : {}),
  };
}
