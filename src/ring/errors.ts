import { FlashAttentionError } from '../errors.js';

/** A call into NCCL failed; `result` is NCCL's ncclResult_t and `resultName` its name. */
export class NcclError extends FlashAttentionError {
  readonly result: number;
  readonly resultName: string;
  constructor(call: string, result: number, resultName: string, detail: string) {
    super('ERR_NCCL', `${call} failed: ${resultName} (${result})${detail ? `: ${detail}` : ''}`);
    this.result = result;
    this.resultName = resultName;
  }
}

/**
 * Ring attention across processes failed or was misused: the bootstrap (initDistributed: coordinator unreachable,
 * timeout, protocol mismatch), a peer lost during a ring, or a synchronous call over the TCP transport.
 */
export class DistributedError extends FlashAttentionError {
  constructor(message: string) {
    super('ERR_DISTRIBUTED', message);
  }
}
