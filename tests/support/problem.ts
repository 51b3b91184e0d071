/**
 * A test case's attention problem in the reference's form, resolved from the public options exactly as
 * semantics.md states it (bottom-right alignment, isCausal = right window 0), independently of src/params.
 */
import type { AttentionOptions } from '../../src/params.js';
import type { Mask } from './reference.js';

export interface Shape {
  n: number;
  lq: number;
  lk: number;
  h: number;
  hk: number;
  d: number;
}

export function maskOf(s: Shape, options: AttentionOptions): Mask {
  const [left, right] = options.windowSize ?? [-1, -1];
  return {
    ...s,
    softmaxScale: options.softmaxScale ?? 1 / Math.sqrt(s.d),
    windowLeft: left,
    windowRight: options.isCausal ? 0 : right,
    diagonalOffset: s.lk - s.lq,
  };
}

export const qShape = (s: Shape) => [s.n, s.lq, s.h, s.d];
export const kvShape = (s: Shape) => [s.n, s.lk, s.hk, s.d];
export const lseShape = (s: Shape) => [s.n, s.h, s.lq];

/** The options as code, for failure messages and repro lines. */
export function describeOptions(o: AttentionOptions): string {
  const parts: string[] = [];
  if (o.isCausal) parts.push('isCausal: true');
  if (o.windowSize) parts.push(`windowSize: [${o.windowSize.join(', ')}]`);
  if (o.softmaxScale !== undefined) parts.push(`softmaxScale: ${o.softmaxScale}`);
  return `{ ${parts.join(', ')} }`;
}
