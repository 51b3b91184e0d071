/**
 * The ring loops (forward.ts, backward.ts) are written once, as generators that yield each step's
 * transfer and resume with the blocks it delivered. Two drivers run them: `runSync` for transports that
 * complete synchronously (in-process copies, NCCL: flashMha keeps its synchronous API), and `runAsync` for
 * transports whose blocks arrive over sockets from other processes (awaited, so the event loop keeps
 * serving the sockets while this process waits).
 */
import { disposals, releaseAfterError } from '../release.js';
import type { Storage } from '../storage.js';
import { DistributedError } from './errors.js';

/** A step's transfer as the loop yields it: sync transports return arrays, async ones promises. */
export interface StepTransfer {
  finish(): Storage[][] | Promise<Storage[][]>;
}

export type RingSteps<T> = Generator<StepTransfer, T, Storage[][]>;

/** Runs a ring loop whose transfers finish synchronously. */
export function runSync<T>(steps: RingSteps<T>): T {
  let state = steps.next();
  while (!state.done) {
    let arrived: Storage[][];
    try {
      const result = state.value.finish();
      if (result instanceof Promise) {
        // A rejection that nobody awaits would be reported as unhandled.
        result.catch(() => undefined);
        throw new DistributedError(
          'ring: this ring spans several processes over an asynchronous (TCP) transport; call ringFlashMhaFwdAsync / ringFlashMhaBwdAsync instead',
        );
      }
      arrived = result;
    } catch (error) {
      failInto(steps, error);
    }
    state = steps.next(arrived);
  }
  return state.value;
}

/**
 * After a transfer failed: lets the loop release what it holds, then reports the transfer's failure. The loop
 * rethrows `error` once it has released; whatever it throws instead, `error` is what names the cause.
 */
function failInto<T>(steps: RingSteps<T>, error: unknown): never {
  try {
    steps.throw(error);
  } catch {
    // Expected: the loop rethrows; its own release failures are warnings there.
  }
  throw error;
}

/** Runs a ring loop, awaiting each transfer. */
export async function runAsync<T>(steps: RingSteps<T>): Promise<T> {
  let state = steps.next();
  while (!state.done) {
    let arrived: Storage[][];
    try {
      arrived = await state.value.finish();
    } catch (error) {
      failInto(steps, error);
    }
    state = steps.next(arrived);
  }
  return state.value;
}

/** The storages of travelling blocks that a loop received: all but each rank's own K and V shards (the caller's). */
export function receivedBlocks(blocks: readonly (readonly Storage[])[], k: readonly Storage[], v: readonly Storage[]): Storage[] {
  return blocks.flatMap((block, rank) => block.filter((s) => s !== k[rank] && s !== v[rank]));
}

/**
 * After a failure, for a transfer the loop began and never took: orders the streams after it (a synchronous
 * transport's finish), so that freeing the blocks it reads waits for it, and releases what it brought (when
 * it arrives, for an asynchronous one). A transfer that fails itself brought nothing.
 */
export function abandon(transfer: StepTransfer | undefined): void {
  if (!transfer) return;
  // The loop's own error is the one reported: a block that cannot be released only warns, and the rest still go.
  const release = (blocks: Storage[][]) => releaseAfterError(disposals(blocks.flat()));
  let arrived: ReturnType<StepTransfer['finish']>;
  try {
    arrived = transfer.finish();
  } catch {
    // Nothing arrived.
    return;
  }
  if (arrived instanceof Promise) arrived.then(release, () => undefined);
  else release(arrived);
}
