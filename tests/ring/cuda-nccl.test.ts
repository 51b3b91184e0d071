// Real NCCL: on one GPU, one-rank rings through both ways of making communicators; over several local
// GPUs, ring attention with the same results as one GPU on every ring case (testing.md's ring rule), bit
// for bit the same as the copy transport, repeatable bit for bit when deterministic, and leaving no memory
// behind; a list alternating between two GPUs (peer copies, no NCCL) likewise. Each test runs only where
// libnccl.so.2 loads (and, for the ring, at least two CUDA devices exist); otherwise it is skipped with the
// reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cudaBackend } from '../../src/backend/cuda/index.js';
import { type Tensor, flashMhaBwd, flashMhaFwd, gatherSequence, randn, shardSequence } from '../../src/index.js';
import { cudaRingRuntime } from '../../src/backend/cuda/ring.js';
import { cudaDevice } from '../../src/backend/cuda/runtime.js';
import { encodeArray } from '../../src/dtype.js';
import { normalSamples } from '../../src/tensor.js';
import { distributedCudaTransport } from '../../src/ring/cuda-distributed.js';
import { NcclTransport } from '../../src/ring/nccl-transport.js';
import { ncclAvailable, ncclUniqueId, ncclVersion } from '../../src/ring/nccl.js';
import type { RingTransport } from '../../src/ring/transport.js';
import { deterministicKernelsMissing } from '../cuda/gpu.js';
import { withEnvAsync } from '../support/env.js';
import { RING_CASES, assertRingBitsRepeat, checkRingCase, disposeAll, skipReason as gpuSkipReason } from './cuda-support.js';
import { describeCase } from './support.js';

/** Why real NCCL on this GPU cannot be tested, or false. */
function findNcclSkipReason(): string | false {
  if (gpuSkipReason) return gpuSkipReason;
  if (process.env.FLASH_ATTN_NCCL_LIBRARY) return `FLASH_ATTN_NCCL_LIBRARY is set (${process.env.FLASH_ATTN_NCCL_LIBRARY}); these tests need the real libnccl.so.2`;
  if (!ncclAvailable()) return 'libnccl.so.2 cannot be loaded here';
  return false;
}
const ncclSkipReason = findNcclSkipReason();
if (ncclSkipReason) console.log(`# NCCL tests skipped: ${ncclSkipReason}`);

function findSkipReason(): string | false {
  if (ncclSkipReason) return ncclSkipReason;
  const count = cudaBackend.deviceCount();
  if (count < 2) return `NCCL ${ncclVersion()} is here but only ${count} CUDA device (the NCCL ring needs 2 or more)`;
  return false;
}
const skipReason = findSkipReason();
if (skipReason && !ncclSkipReason) console.log(`# NCCL ring tests over several GPUs skipped: ${skipReason}`);

/** A one-rank ring sends its block to itself: exercises real NCCL calls and the transfer-stream ordering on one GPU. */
async function checkSelfExchange(transport: RingTransport): Promise<void> {
  const data = [encodeArray(normalSamples(3000, 31), 'bfloat16'), encodeArray(normalSamples(515, 32), 'float32')];
  const block = [cudaBackend.upload(data[0], 'bfloat16', 'cuda:0'), cudaBackend.upload(data[1], 'float32', 'cuda:0')];
  const received = transport.begin([block]).finish();
  assert.deepEqual(await received[0][0].read(), data[0]);
  assert.deepEqual(await received[0][1].read(), data[1]);
  for (const s of [...block, ...received[0]]) s.dispose();
  transport.dispose();
}

test('real NCCL on one GPU: a one-rank ring (ncclCommInitAll) passes its block to itself', { skip: ncclSkipReason }, async () => {
  console.log(`# NCCL version ${ncclVersion()}`);
  await checkSelfExchange(NcclTransport.local(['cuda:0'], [0], cudaRingRuntime));
});

test('real NCCL on one GPU: the several-process transport (ncclCommInitRank in a group) with one process of one rank', { skip: ncclSkipReason }, async () => {
  const ctx = { rank: 0, worldSize: 1, coordinator: 'localhost:1', uniqueId: ncclUniqueId() };
  await checkSelfExchange(distributedCudaTransport(ctx, ['cuda:0']));
});

const gpus = (w: number) => Array.from({ length: w }, (_, i) => `cuda:${i}`);
const worldSizes = () => [2, 4, 8].filter((w) => w <= cudaBackend.deviceCount());

describe('the NCCL ring over distinct local GPUs equals one GPU', () => {
  for (const c of RING_CASES) test(describeCase(c), { skip: skipReason }, () => checkRingCase(c, worldSizes(), gpus));
});

// A device list that repeats GPUs (cuda:0, cuda:1, cuda:0, cuda:1) takes the copy transport, with every
// step a copy between the two GPUs ordered by events on both.
const alternating = (w: number) => Array.from({ length: w }, (_, i) => `cuda:${i % 2}`);

const twoGpuSkipReason = gpuSkipReason || (cudaBackend.deviceCount() < 2 && 'one CUDA device here (the test alternates between two)');

test('a ring alternating between two GPUs (peer copies) equals one GPU', { skip: twoGpuSkipReason }, async () => {
  await checkRingCase(RING_CASES[1], [4], alternating);
  await checkRingCase(RING_CASES[6], [4], alternating);
});

test('a ring over distinct GPUs leaves no device memory behind on any of them', { skip: skipReason }, async () => {
  const w = worldSizes().at(-1)!;
  const make = (heads: number, seed: number) => randn([1, 512, heads, 64], { seed, dtype: 'bfloat16', device: 'cuda:0' });
  const [q, k, v, dout] = [make(4, 1), make(2, 2), make(2, 3), make(4, 4)];
  const run = () => {
    const shard = (t: Tensor) => shardSequence(t, gpus(w), { layout: 'zigzag' });
    const [sq, sk, sv, sdout] = [q, k, v, dout].map(shard);
    const fwd = flashMhaFwd(sq, sk, sv, { isCausal: true });
    const g = flashMhaBwd(sdout, sq, sk, sv, fwd.out, fwd.lse, { isCausal: true });
    disposeAll(sq, sk, sv, sdout, fwd.out, fwd.lse, g.dq, g.dk, g.dv);
  };
  const inUse = () => gpus(w).map((d) => {
    const gpu = cudaDevice(d);
    gpu.synchronize();
    return gpu.memoryInUse();
  });
  run();
  const before = inUse();
  run();
  assert.deepEqual(inUse(), before);
  disposeAll(q, k, v, dout);
});

const deterministicSkip = skipReason || deterministicKernelsMissing();

test('a deterministic ring backward over distinct GPUs gives identical bits in 5 runs', { skip: deterministicSkip }, async () => {
  await assertRingBitsRepeat(gpus(worldSizes().at(-1)!), 1024, 8, 2, 128, 40, 5);
});

test('NCCL and the copy transport give identical bits', { skip: skipReason }, async () => {
  const w = Math.min(4, cudaBackend.deviceCount());
  const make = (heads: number, seed: number) => randn([1, 256, heads, 64], { seed, dtype: 'bfloat16', device: 'cuda:0' });
  const [q, k, v, dout] = [make(4, 1), make(2, 2), make(2, 3), make(4, 4)];
  const run = async () => {
    const shard = (t: Tensor) => shardSequence(t, gpus(w), { layout: 'zigzag' });
    const [sq, sk, sv, sdout] = [q, k, v, dout].map(shard);
    const fwd = flashMhaFwd(sq, sk, sv, { isCausal: true });
    const g = flashMhaBwd(sdout, sq, sk, sv, fwd.out, fwd.lse, { isCausal: true });
    const all = [fwd.out, fwd.lse, g.dq, g.dk, g.dv].map(gatherSequence);
    const data = await Promise.all(all.map((t) => t.data()));
    disposeAll(sq, sk, sv, sdout, fwd.out, fwd.lse, g.dq, g.dk, g.dv, ...all);
    return data;
  };
  const viaNccl = await run();
  await withEnvAsync({ FLASH_ATTN_RING_TRANSPORT: 'copy' }, async () => assert.deepEqual(await run(), viaNccl));
  disposeAll(q, k, v, dout);
});
