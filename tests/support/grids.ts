/**
 * The grids of testing.md and a deterministic, seeded sample of their cross product. The whole product
 * (14 head dims x 13 length pairs x 4 head ratios x 8 mask kinds x dtypes x batch) is far beyond what
 * a float64 reference in JavaScript can check in CI, so every value of every axis appears at least once
 * per dtype, combined by rotation and a seeded generator, with each case held under a cost cap
 * (n * h * lq * lk * d multiply-adds per matmul) by shrinking batch, then head dim, then heads.
 */
import { seededUniform } from '../../src/tensor.js';
import type { Dtype } from '../../src/dtype.js';
import type { AttentionOptions } from '../../src/params.js';
import type { CaseSpec } from './attentionCase.js';

export const HEAD_DIMS = [1, 8, 32, 40, 59, 64, 80, 96, 111, 128, 160, 192, 224, 256] as const;

export const SEQ_PAIRS: readonly (readonly [number, number])[] = [
  [1, 1], [1, 239], [239, 1], [3, 799], [799, 3], [113, 203], [128, 217], [108, 256],
  [256, 512], [512, 256], [1023, 1024], [1024, 1023], [2048, 2048],
];

/** [h, hk]: multi-head, two grouped-query ratios, multi-query. */
export const HEAD_RATIOS: readonly (readonly [number, number])[] = [[6, 6], [6, 3], [6, 2], [6, 1]];

export const MASK_KINDS = ['none', 'causal', 'window (0,0)', 'window (-1,0)', 'window (3,3)', 'left only', 'right only', 'random window'] as const;
export type MaskKind = (typeof MASK_KINDS)[number];

/** The options for a mask kind; random sides are drawn from [0, lk] as testing.md says. */
export function maskOptions(kind: MaskKind, lk: number, random: () => number): AttentionOptions {
  const side = () => Math.floor(random() * (lk + 1));
  switch (kind) {
    case 'none': return {};
    case 'causal': return { isCausal: true };
    case 'window (0,0)': return { windowSize: [0, 0] };
    case 'window (-1,0)': return { windowSize: [-1, 0] };
    case 'window (3,3)': return { windowSize: [3, 3] };
    case 'left only': return { windowSize: [side(), -1] };
    case 'right only': return { windowSize: [-1, side()] };
    case 'random window': return { windowSize: [side(), side()] };
  }
}

/** Query-key pairs the mask allows (the reference and the backend skip the rest). */
export function allowedPairs(lq: number, lk: number, options: AttentionOptions): number {
  const [left, right] = options.windowSize ?? [-1, -1];
  const r = options.isCausal ? 0 : right;
  let count = 0;
  for (let i = 0; i < lq; i++) {
    const diagonal = i + lk - lq;
    const lo = left < 0 ? 0 : Math.max(0, diagonal - left);
    const hi = r < 0 ? lk - 1 : Math.min(lk - 1, diagonal + r);
    count += Math.max(0, hi - lo + 1);
  }
  return count;
}

/** Multiply-adds of one matmul of the problem: what the reference, the baseline and the backend scale with. */
export function caseCost(c: Pick<CaseSpec, 'n' | 'h' | 'lq' | 'lk' | 'd' | 'options'>): number {
  // every pair costs a mask test even when masked; count it as one multiply-add
  return c.n * c.h * (allowedPairs(c.lq, c.lk, c.options) * c.d + c.lq * c.lk);
}

/** Per-case cost cap: small problems may use every head dim and batch 4, long ones get small head dims. */
export const CASE_CAP = 4e7;

/** Shrinks n, then d (down the head-dim list), then the heads to (1, 1), until the case fits the cap. */
export function fitToCap(c: CaseSpec, cap = CASE_CAP): CaseSpec {
  const fitted = { ...c };
  while (caseCost(fitted) > cap && fitted.n > 1) fitted.n -= 1;
  while (caseCost(fitted) > cap && fitted.d > 1) fitted.d = [...HEAD_DIMS].reverse().find((x) => x < fitted.d) ?? 1;
  if (caseCost(fitted) > cap) {
    fitted.h = 1;
    fitted.hk = 1;
  }
  return fitted;
}

const DTYPE_SALT: Record<Dtype, number> = { float32: 0, float16: 1, bfloat16: 2 };

/**
 * The sampled grid for one dtype: four groups, each sweeping one axis completely while the other axes
 * rotate (offset per dtype, so the three dtypes see different combinations):
 *   head dims  every d, on the short length pairs
 *   lengths    every (lq, lk) pair
 *   masks      every mask kind (random windows twice)
 *   heads      every h/hk ratio with batch 1..4
 * then a few random combinations, and softmaxScale values other than the default (SCALE_CASES).
 */
export function gridCases(dtype: Dtype, baseSeed = 20240601): { group: string; spec: CaseSpec }[] {
  const salt = DTYPE_SALT[dtype];
  const random = seededUniform(baseSeed + salt);
  const shortPairs = SEQ_PAIRS.slice(0, 8);
  const mediumPairs = SEQ_PAIRS.slice(5, 10);
  const cases: { group: string; spec: CaseSpec }[] = [];
  let seed = baseSeed * 16 + salt * 1000;
  const add = (group: string, parts: { pair: readonly [number, number]; d: number; heads: readonly [number, number]; n: number; mask: MaskKind; scaleFactor?: number }) => {
    const [lq, lk] = parts.pair;
    const [h, hk] = parts.heads;
    const spec: CaseSpec = { n: parts.n, lq, lk, h, hk, d: parts.d, dtype, options: maskOptions(parts.mask, lk, random), seed: seed++ };
    const fitted = fitToCap(spec, CASE_CAP);
    // The scale follows the head dim the cap left, as the default 1 / sqrt(d) does.
    if (parts.scaleFactor !== undefined) fitted.options = { ...fitted.options, softmaxScale: parts.scaleFactor / Math.sqrt(fitted.d) };
    cases.push({ group, spec: fitted });
  };
  const rot = <T>(list: readonly T[], i: number) => list[(i + salt) % list.length];

  HEAD_DIMS.forEach((d, i) => {
    // keep d: walk the short pairs from the rotated start until one fits the cap at batch 1
    const heads = rot(HEAD_RATIOS, i);
    const mask = rot(MASK_KINDS, i * 5);
    const fits = (pair: readonly [number, number]) => caseCost({ n: 1, h: heads[0], lq: pair[0], lk: pair[1], d, options: maskOptions(mask, pair[1], () => 1) }) <= CASE_CAP;
    const start = (i * 3 + salt) % shortPairs.length;
    const order = shortPairs.map((_, x) => shortPairs[(start + x) % shortPairs.length]);
    add('head dims', { pair: order.find(fits) ?? shortPairs[0], d, heads, n: 1 + ((i + salt) % 3), mask });
  });
  SEQ_PAIRS.forEach((pair, i) =>
    add('lengths', { pair, d: rot(HEAD_DIMS, i * 5), heads: rot(HEAD_RATIOS, i), n: 1, mask: rot(MASK_KINDS, i * 3) }),
  );
  [...MASK_KINDS, 'random window' as const].forEach((mask, i) =>
    add('masks', { pair: rot(mediumPairs, i), d: rot(HEAD_DIMS, i * 3 + 1), heads: rot(HEAD_RATIOS, i * 3), n: 1, mask }),
  );
  HEAD_RATIOS.forEach((heads, i) =>
    add('heads', { pair: rot(shortPairs, i * 2 + 5), d: rot(HEAD_DIMS, i * 4 + 2), heads, n: 1 + ((i + salt) % 4), mask: rot(MASK_KINDS, i * 2 + 1) }),
  );
  for (let i = 0; i < RANDOM_CASES; i++) {
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
    add('random', { pair: pick(SEQ_PAIRS), d: pick(HEAD_DIMS), heads: pick(HEAD_RATIOS), n: 1 + Math.floor(random() * 4), mask: pick(MASK_KINDS) });
  }
  // Last, so that the groups above keep their cases and seeds: no other case sets softmaxScale, and a backend that
  // ignored it passed every one of them.
  for (const c of SCALE_CASES) add('scales', { ...c, n: 1 });
  return cases;
}

/**
 * softmaxScale as a multiple of the default: sharper rows (more rescaling of the running max), a negative scale,
 * uniform rows (0) and flatter ones; d = 256 on a length pair the cap keeps whole, which no other group gives float16.
 */
const SCALE_CASES: readonly { scaleFactor: number; d: number; pair: readonly [number, number]; heads: readonly [number, number]; mask: MaskKind }[] = [
  { scaleFactor: 3, d: 256, pair: [113, 203], heads: [6, 2], mask: 'none' },
  { scaleFactor: -1, d: 64, pair: [256, 512], heads: [6, 3], mask: 'causal' },
  { scaleFactor: 0, d: 128, pair: [128, 217], heads: [6, 1], mask: 'random window' },
  { scaleFactor: 0.5, d: 96, pair: [108, 256], heads: [6, 6], mask: 'left only' },
];

/** Extra combinations drawn from the whole product with the seeded generator. */
const RANDOM_CASES = 10;
