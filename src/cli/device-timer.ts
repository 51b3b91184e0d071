import { parseDevice } from '../device.js';
import { type Timer, hostTimer } from './timer.js';

/** The right clock for a device: host time for the CPU backend, whose calls are synchronous. */
export async function deviceTimer(device: string): Promise<Timer> {
  const { kind } = parseDevice(device);
  if (kind === 'cpu') return hostTimer;
  throw new Error(`no timer for ${kind} yet`);
}
