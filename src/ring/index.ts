export { ShardedTensor, shardSequence, gatherSequence } from './sharded.js';
export type { ShardOptions } from './sharded.js';
export type { SequenceLayout } from './layout.js';
export type { ShardedForwardOutputs, ShardedGradients } from './attention.js';
export { initDistributed } from './distributed.js';
export type { DistributedOptions, DistributedContext } from './distributed.js';
export { NcclError, DistributedError } from './errors.js';
export { benchRing } from './bench.js';
export type { RingBenchOptions, RingBenchResult } from './bench.js';
