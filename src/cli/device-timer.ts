import { timeOnDevice } from '../backend/cuda/timing.js';
import { parseDevice } from '../device.js';
import { type Timer, hostTimer } from './timer.js';

/**
 * The right clock for a device: host time for the CPU backend, whose calls finish before they return;
 * CUDA events on the device's stream for the CUDA backend, whose calls only enqueue work.
 */
export async function deviceTimer(device: string): Promise<Timer> {
  if (parseDevice(device).kind === 'cpu') return hostTimer;
  return (run, repeats) => timeOnDevice(device, run, repeats);
}
