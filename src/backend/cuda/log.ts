/**
 * `FLASH_ATTN_LOG=1`: one line on stderr per kernel launch, saying which kernel ran where, e.g.
 * `flash-attn: cuda:0 bwd flash_bwd90_bf16_d128 (sm_90a) grid 16x4x2`. Read at each launch, so a test or a
 * long-running process can turn it on and off. Any value but '0' or '' turns it on (a debugging aid: it never fails a
 * call, unlike FLASH_ATTN_KERNELS or FLASH_ATTN_PDL, which are checked before any work).
 */
export function launchLogEnabled(setting: string | undefined = process.env.FLASH_ATTN_LOG): boolean {
  return setting !== undefined && setting !== '' && setting !== '0';
}

export function launchLogLine(device: string, what: string, kernel: string, grid: readonly [number, number, number]): string {
  return `flash-attn: ${device} ${what} ${kernel} grid ${grid.join('x')}`;
}

export function logLaunch(device: string, what: string, kernel: string, grid: readonly [number, number, number]): void {
  if (launchLogEnabled()) process.stderr.write(`${launchLogLine(device, what, kernel, grid)}\n`);
}
