/**
 * Ring attention's device operations on CUDA GPUs (registered for 'cuda' in ops.ts). Everything is
 * enqueued on the device's compute stream and returns at once; storages are row-major, `axis` cuts a
 * shape into outer x axis x inner.
 */
import { cudaDevice } from '../backend/cuda/runtime.js';
import { CudaStorage } from '../backend/cuda/storage.js';
import { type Dtype, bytesPerElement } from '../dtype.js';
import { DtypeError, ShapeError, describe } from '../errors.js';
import { disposeOnThrow, thenRelease } from '../release.js';
import { elementCount } from '../tensor.js';
import { copyRows, copyToDevice, cudaStorageOf } from './cuda-copy.js';
import { launchRingKernel } from './cuda-kernels.js';
import { createCudaTransport } from './cuda-transport.js';
import type { MergeDims, RingDeviceOps, RowsDims } from './ops.js';

function split(shape: readonly number[], axis: number): [number, number, number] {
  return [elementCount(shape.slice(0, axis)), shape[axis], elementCount(shape.slice(axis + 1))];
}

/** `s` itself when it lives on `device`, else a copy there (owned by the caller, `copied` true). */
function onDevice(s: CudaStorage, device: string): { storage: CudaStorage; copied: boolean } {
  if (s.device === device) return { storage: s, copied: false };
  return { storage: copyToDevice(s, cudaDevice(device)), copied: true };
}

/** The float32 bits of `value`, for cuMemsetD32Async. */
function float32Bits(value: number): number {
  return new Uint32Array(new Float32Array([value]).buffer)[0];
}

function checkFloat32(s: CudaStorage, what: string): void {
  if (s.dtype !== 'float32') throw new ShapeError(`ring: ${what}: expected float32 storages, got ${s.dtype}`);
}

function checkSameLength(a: CudaStorage, b: CudaStorage, what: string): void {
  if (a.length !== b.length || a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new ShapeError(`ring: ${what}: expected two float32 storages of one length, got ${a.dtype}[${a.length}] and ${b.dtype}[${b.length}]`);
  }
}

export const cudaRingOps: RingDeviceOps = {
  slice(src, shape, axis, start, length, device) {
    const s = cudaStorageOf(src, 'slice');
    const [outer, rows, inner] = split(shape, axis);
    const rowBytes = inner * bytesPerElement(s.dtype);
    // Cut on the source's GPU, then move the (contiguous) result if it belongs elsewhere.
    const cut = disposeOnThrow((keep) => {
      const made = keep(CudaStorage.allocate(s.cudaDevice, s.dtype, outer * length * inner));
      copyRows(s.cudaDevice, made.pointer, length * rowBytes, s.pointer + BigInt(start * rowBytes), rows * rowBytes, length * rowBytes, outer);
      return made;
    });
    if (cut.device === device) return cut;
    return thenRelease(() => copyToDevice(cut, cudaDevice(device)), () => [() => cut.dispose()]);
  },

  concat(parts, shapes, axis, device) {
    const gpu = cudaDevice(device);
    const dtype = parts[0].dtype;
    const total = shapes.reduce((sum, s) => sum + s[axis], 0);
    const [outer, , inner] = split(shapes[0], axis);
    const rowBytes = inner * bytesPerElement(dtype);
    return disposeOnThrow((keep) => {
      const out = keep(CudaStorage.allocate(gpu, dtype, outer * total * inner));
      let row = 0;
      parts.forEach((part, i) => {
        const rows = shapes[i][axis];
        const { storage, copied } = onDevice(cudaStorageOf(part, 'concat'), device);
        thenRelease(
          () => copyRows(gpu, out.pointer + BigInt(row * rowBytes), total * rowBytes, storage.pointer, rows * rowBytes, rows * rowBytes, outer),
          () => (copied ? [() => storage.dispose()] : []),
        );
        row += rows;
      });
      return out;
    });
  },

  filled(length, value, device) {
    const gpu = cudaDevice(device);
    return disposeOnThrow((keep) => {
      const out = keep(CudaStorage.allocate(gpu, 'float32', length));
      gpu.fillWords(out.pointer, float32Bits(value), length);
      return out;
    });
  },

  mergePartial(accOut, accLse, partOut, partLse, { n, l, h, d, accRows = l, rowOffset = 0 }: MergeDims) {
    const [ao, al, po, pl] = [accOut, accLse, partOut, partLse].map((s, i) => cudaStorageOf(s, ['accOut', 'accLse', 'partOut', 'partLse'][i]));
    for (const s of [ao, al, po, pl]) checkFloat32(s, 'mergePartial');
    const fits = rowOffset >= 0 && rowOffset + l <= accRows;
    if (!fits || ao.length !== n * accRows * h * d || al.length !== n * h * accRows || po.length !== n * l * h * d || pl.length !== n * h * l) {
      throw new ShapeError(
        `ring: mergePartial: acc out ${ao.length} / lse ${al.length} and part out ${po.length} / lse ${pl.length} elements do not fit ${describe({ n, l, h, d, accRows, rowOffset })}`,
      );
    }
    // One warp per row of d values.
    launchRingKernel(ao.cudaDevice, 'ring_merge', n * l * h * 32, [ao.pointer, al.pointer, po.pointer, pl.pointer, n, l, h, d, accRows, rowOffset]);
  },

  addRows(acc, part, { n, rows, accRows, rowOffset, rowElements }: RowsDims) {
    const [a, b] = [cudaStorageOf(acc, 'addRows acc'), cudaStorageOf(part, 'addRows part')];
    for (const s of [a, b]) checkFloat32(s, 'addRows');
    if (rowOffset < 0 || rowOffset + rows > accRows || a.length !== n * accRows * rowElements || b.length !== n * rows * rowElements) {
      throw new ShapeError(`ring: addRows: acc ${a.length} and part ${b.length} elements do not fit ${describe({ n, rows, accRows, rowOffset, rowElements })}`);
    }
    // Byte geometry, as the row copies take it: n rows of rows * rowElements floats.
    const rowBytes = rowElements * 4;
    const width = rows * rowBytes;
    launchRingKernel(a.cudaDevice, 'ring_add_rows_f32', n * rows * rowElements, [a.pointer + BigInt(rowOffset * rowBytes), b.pointer, accRows * rowBytes, width, width, n]);
  },

  addInto(acc, part) {
    const [a, b] = [cudaStorageOf(acc, 'addInto acc'), cudaStorageOf(part, 'addInto part')];
    checkSameLength(a, b, 'addInto');
    launchRingKernel(a.cudaDevice, 'ring_add_f32', a.length, [a.pointer, b.pointer, a.length]);
  },

  cast(src, dtype: Dtype) {
    const s = cudaStorageOf(src, 'cast');
    if (s.dtype !== 'float32') throw new DtypeError(`ring: cast: expected a float32 storage, got ${s.dtype}`);
    return disposeOnThrow((keep) => {
      const out = keep(CudaStorage.allocate(s.cudaDevice, dtype, s.length));
      if (dtype === 'float32') s.cudaDevice.copyOnDevice(out.pointer, s.pointer, s.byteLength);
      else launchRingKernel(s.cudaDevice, dtype === 'float16' ? 'ring_cast_f32_f16' : 'ring_cast_f32_bf16', s.length, [out.pointer, s.pointer, s.length]);
      return out;
    });
  },

  createTransport: createCudaTransport,
};
