import { FlashAttentionError } from '../../errors.js';

/** A CUDA driver call failed; carries the driver's own name and description of the error. */
export class CudaError extends FlashAttentionError {
  /** The CUresult value, like 2. */
  readonly result: number;
  /** The driver's name for it, like 'CUDA_ERROR_OUT_OF_MEMORY'. */
  readonly driverName: string;
  /** The driver function that returned it, like 'cuMemAllocAsync'. */
  readonly call: string;

  constructor(call: string, result: number, driverName: string, driverMessage: string) {
    super('ERR_CUDA', `${call} failed: ${driverName} (${driverMessage})`);
    this.result = result;
    this.driverName = driverName;
    this.call = call;
  }
}
