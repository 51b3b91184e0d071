import { type Dtype, type HostArray, encodeArray } from '../dtype.js';
import { elementCount } from '../tensor.js';
import { HostStorage, type Storage } from '../storage.js';
import { mergePartials } from './merge.js';
import type { MergeDims, RingDeviceOps, RowsDims } from './ops.js';
import { CopyTransport } from './copy-transport.js';

/** The host array behind a CPU storage (the ring only ever hands CPU storages to these ops). */
function arrayOf(s: Storage): HostArray {
  return (s as HostStorage).array;
}

function float32Of(s: Storage): Float32Array {
  return (s as HostStorage).array as Float32Array;
}

/** outer x axis x inner view of a shape cut at `axis`. */
function split(shape: readonly number[], axis: number): [number, number, number] {
  return [elementCount(shape.slice(0, axis)), shape[axis], elementCount(shape.slice(axis + 1))];
}

function allocate(dtype: Dtype, length: number): HostArray {
  return dtype === 'float32' ? new Float32Array(length) : new Uint16Array(length);
}

/** Ring operations on CPU (virtual) devices: plain copies and loops over host arrays. */
export const hostRingOps: RingDeviceOps = {
  slice(src, shape, axis, start, length, device) {
    const [outer, rows, inner] = split(shape, axis);
    const from = arrayOf(src);
    const to = allocate(src.dtype, outer * length * inner);
    for (let o = 0; o < outer; o++) {
      const begin = (o * rows + start) * inner;
      to.set(from.subarray(begin, begin + length * inner), o * length * inner);
    }
    return new HostStorage(device, src.dtype, to);
  },

  concat(parts, shapes, axis, device) {
    const total = shapes.reduce((sum, s) => sum + s[axis], 0);
    const [outer, , inner] = split(shapes[0], axis);
    const to = allocate(parts[0].dtype, outer * total * inner);
    let row = 0;
    parts.forEach((part, index) => {
      const rows = shapes[index][axis];
      const from = arrayOf(part);
      for (let o = 0; o < outer; o++) {
        to.set(from.subarray(o * rows * inner, (o + 1) * rows * inner), (o * total + row) * inner);
      }
      row += rows;
    });
    return new HostStorage(device, parts[0].dtype, to);
  },

  filled(length, value, device) {
    return new HostStorage(device, 'float32', new Float32Array(length).fill(value));
  },

  mergePartial(accOut, accLse, partOut, partLse, { n, l, h, d, accRows = l, rowOffset = 0 }: MergeDims) {
    mergePartials(float32Of(accOut), float32Of(accLse), float32Of(partOut), float32Of(partLse), n, l, h, d, accRows, rowOffset);
  },

  addInto(acc, part) {
    const a = float32Of(acc);
    const b = float32Of(part);
    for (let i = 0; i < a.length; i++) a[i] += b[i];
  },

  addRows(acc, part, { n, rows, accRows, rowOffset, rowElements }: RowsDims) {
    const a = float32Of(acc);
    const p = float32Of(part);
    for (let b = 0; b < n; b++) {
      const to = (b * accRows + rowOffset) * rowElements;
      const from = b * rows * rowElements;
      for (let i = 0; i < rows * rowElements; i++) a[to + i] += p[from + i];
    }
  },

  cast(src, dtype) {
    return new HostStorage(src.device, dtype, encodeArray(float32Of(src), dtype));
  },

  createTransport(devices) {
    return new CopyTransport(devices, (s, device) => new HostStorage(device, s.dtype, arrayOf(s).slice()));
  },
};
