/**
 * Device-to-device data movement for ring attention on CUDA: strided row copies within one GPU, and
 * copies between GPUs (unified addressing) ordered against both devices' streams by events.
 */
import type { CUstream } from '../backend/cuda/driver.js';
import type { CudaDevice } from '../backend/cuda/runtime.js';
import { CudaStorage } from '../backend/cuda/storage.js';
import { DeviceError, describe } from '../errors.js';
import { disposeOnThrow, thenRelease } from '../release.js';
import type { Storage } from '../storage.js';
import { launchRingKernel } from './cuda-kernels.js';

export function cudaStorageOf(s: Storage, name: string): CudaStorage {
  if (!(s instanceof CudaStorage)) throw new DeviceError(`ring: ${name}: expected cuda storage, got storage on ${describe(s.device)}`);
  return s;
}

/** Widest copy unit the kernels have that divides every address, pitch and width. */
function copyUnit(values: readonly bigint[]): 16 | 4 | 2 {
  for (const unit of [16, 4, 2] as const) if (values.every((v) => v % BigInt(unit) === 0n)) return unit;
  // Elements are 2 or 4 bytes and storages start element-aligned, so 2 always divides.
  throw new DeviceError(`ring: a strided copy with odd byte offsets (${values.join(', ')}) cannot happen for float16/bfloat16/float32 data`);
}

/**
 * Enqueues on `device`'s compute stream: `height` rows of `width` bytes, row r from src + r * srcPitch to
 * dst + r * dstPitch. One cuMemcpyDtoDAsync when the rows are back to back on both sides, else a kernel.
 */
export function copyRows(device: CudaDevice, dst: bigint, dstPitch: number, src: bigint, srcPitch: number, width: number, height: number): void {
  if (width === 0 || height === 0) return;
  if (height === 1 || (dstPitch === width && srcPitch === width)) {
    device.copyOnDevice(dst as CudaStorage['pointer'], src as CudaStorage['pointer'], width * height);
    return;
  }
  const unit = copyUnit([dst, src, BigInt(dstPitch), BigInt(srcPitch), BigInt(width)]);
  launchRingKernel(device, `ring_copy_rows_${unit}`, (width / unit) * height, [dst, src, dstPitch, srcPitch, width, height]);
}

/**
 * Later work on `waitingStream` (of `waiting`) starts after the work enqueued so far on `signallingStream`
 * (of `signalling`), without a host wait. The event belongs to the signalling device's context; a stream
 * may wait on an event of another device.
 */
export function orderAcross(waiting: CudaDevice, waitingStream: CUstream, signalling: CudaDevice, signallingStream: CUstream): void {
  if (waiting === signalling) {
    waiting.order(waitingStream, signallingStream);
    return;
  }
  const driver = signalling.runtime.driver;
  const event = signalling.createEvent();
  // The destroy is tried even when making the signalling context current again fails; a failing record or wait
  // is the error reported, not a release that fails after it (a broken context fails them all).
  thenRelease(
    () => {
      signalling.check(driver.cuEventRecord(event, signallingStream), 'cuEventRecord');
      waiting.makeCurrent();
      waiting.check(driver.cuStreamWaitEvent(waitingStream, event, 0), 'cuStreamWaitEvent');
    },
    () => [() => signalling.makeCurrent(), () => signalling.destroyEvent(event)],
  );
}

/**
 * Enqueues a copy of all of `src` into `dst` on `stream` of `dst`'s device (a peer copy when the
 * devices differ). The caller orders `stream` after the work that wrote `src` and allocated `dst`.
 */
export function copyWhole(dst: CudaStorage, src: CudaStorage, stream: CUstream): void {
  const bytes = src.byteLength;
  if (bytes === 0) return;
  const device = dst.cudaDevice;
  device.makeCurrent();
  device.check(device.runtime.driver.cuMemcpyDtoDAsync(dst.pointer, src.pointer, bytes, stream), 'cuMemcpyDtoDAsync');
}

/**
 * A copy of `src` on `target` (another GPU), ordered on both sides: the copy waits for the source
 * device's work so far, and the source device's later work (freeing `src`) waits for the copy.
 */
export function copyToDevice(src: CudaStorage, target: CudaDevice): CudaStorage {
  const from = src.cudaDevice;
  return disposeOnThrow((keep) => {
    const out = keep(CudaStorage.allocate(target, src.dtype, src.length));
    orderAcross(target, target.stream, from, from.stream);
    copyWhole(out, src, target.stream);
    orderAcross(from, from.stream, target, target.stream);
    return out;
  });
}
