import { SizeLimitError } from '../../errors.js';
import { CU_TENSOR_MAP_ALIGNMENT, CU_TENSOR_MAP_BYTES } from './driver.js';

/**
 * The mirror of kernels/common/params.h (struct FlashParams), field by field and in the same order, with
 * the C names. tests/unit/abi.test.ts compiles params.h and checks every offset and the size against this.
 */

type FieldType = 'uint64' | 'int32' | 'float32';

const FIELD_BYTES: Record<FieldType, number> = { uint64: 8, int32: 4, float32: 4 };

/** The struct's fields in declaration order. */
export const FLASH_PARAMS_FIELDS = [
  ['q', 'uint64'],
  ['k', 'uint64'],
  ['v', 'uint64'],
  ['o', 'uint64'],
  ['lse', 'uint64'],
  ['dout', 'uint64'],
  ['dq', 'uint64'],
  ['dk', 'uint64'],
  ['dv', 'uint64'],
  ['dq_accum', 'uint64'],
  ['softmax_d', 'uint64'],
  ['n', 'int32'],
  ['lq', 'int32'],
  ['lk', 'int32'],
  ['h', 'int32'],
  ['hk', 'int32'],
  ['d', 'int32'],
  ['window_left', 'int32'],
  ['window_right', 'int32'],
  ['diagonal_offset', 'int32'],
  ['out_float32', 'int32'],
  ['softmax_scale', 'float32'],
  ['softmax_scale_log2', 'float32'],
] as const satisfies readonly (readonly [string, FieldType])[];

export type FlashParamsField = (typeof FLASH_PARAMS_FIELDS)[number][0];

type FieldValue<T extends FieldType> = T extends 'uint64' ? bigint : number;
/** One value per field: device addresses as bigints (0n when unused), the rest as numbers. */
export type FlashParams = {
  [F in (typeof FLASH_PARAMS_FIELDS)[number] as F[0]]: FieldValue<F[1]>;
};

/** C layout rules: each field at the next multiple of its own size; the struct padded to its largest. */
function layout(): { offsets: Record<FlashParamsField, number>; size: number } {
  const offsets = {} as Record<FlashParamsField, number>;
  let offset = 0;
  let alignment = 1;
  for (const [name, type] of FLASH_PARAMS_FIELDS) {
    const bytes = FIELD_BYTES[type];
    offset = Math.ceil(offset / bytes) * bytes;
    offsets[name] = offset;
    offset += bytes;
    alignment = Math.max(alignment, bytes);
  }
  return { offsets, size: Math.ceil(offset / alignment) * alignment };
}

const LAYOUT = layout();
export const FLASH_PARAMS_OFFSETS: Readonly<Record<FlashParamsField, number>> = LAYOUT.offsets;
export const FLASH_PARAMS_SIZE = LAYOUT.size;

/** The exact bytes of a FlashParams struct (little-endian, as on every CUDA host). */
export function packFlashParams(params: FlashParams): Uint8Array {
  const bytes = new Uint8Array(FLASH_PARAMS_SIZE);
  const view = new DataView(bytes.buffer);
  for (const [name, type] of FLASH_PARAMS_FIELDS) {
    const offset = FLASH_PARAMS_OFFSETS[name];
    const value = params[name];
    if (type === 'uint64') view.setBigUint64(offset, value as bigint, true);
    else if (type === 'int32') view.setInt32(offset, checkInt32(name, value as number), true);
    else view.setFloat32(offset, value as number, true);
  }
  return bytes;
}

function checkInt32(name: string, value: number): number {
  if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) {
    throw new SizeLimitError(`${name}: ${value} does not fit the kernels' 32-bit field`);
  }
  return value;
}

/**
 * The mirror of kernels/sm90/fwd.cuh's `flash90::FwdArgs`, the Hopper forward's one parameter: the tensor maps
 * of q, k and v, then FlashParams, the whole padded to CUtensorMap's alignment (128 with CUDA 13.0: 640 bytes;
 * the driver copies that many bytes at launch, so all of them must be there; a kernel built with 12.x, where
 * the struct is 576 bytes at the same offsets, reads a prefix). tests/unit/abi.test.ts compiles fwd.cuh with
 * nvcc and checks these offsets and the size.
 */
export const FWD90_MAPS = ['q', 'k', 'v'] as const;
export type Fwd90Map = (typeof FWD90_MAPS)[number];

function fwd90Layout(): { offsets: Record<Fwd90Map | 'p', number>; size: number } {
  const mapsEnd = FWD90_MAPS.length * CU_TENSOR_MAP_BYTES;
  const p = Math.ceil(mapsEnd / 8) * 8;
  return {
    offsets: { q: 0, k: CU_TENSOR_MAP_BYTES, v: 2 * CU_TENSOR_MAP_BYTES, p },
    size: Math.ceil((p + FLASH_PARAMS_SIZE) / CU_TENSOR_MAP_ALIGNMENT) * CU_TENSOR_MAP_ALIGNMENT,
  };
}

const FWD90_LAYOUT = fwd90Layout();
export const FWD90_ARGS_OFFSETS: Readonly<Record<Fwd90Map | 'p', number>> = FWD90_LAYOUT.offsets;
export const FWD90_ARGS_SIZE = FWD90_LAYOUT.size;
export const FWD90_ARGS_ALIGNMENT = CU_TENSOR_MAP_ALIGNMENT;

/** The exact bytes of a FwdArgs: each map's 128 bytes as cuTensorMapEncodeTiled wrote them, then `params`. */
export function packFwd90Args(maps: Readonly<Record<Fwd90Map, Uint8Array>>, params: FlashParams): Uint8Array {
  const bytes = new Uint8Array(FWD90_ARGS_SIZE);
  for (const name of FWD90_MAPS) {
    if (maps[name].length !== CU_TENSOR_MAP_BYTES) {
      throw new Error(`packFwd90Args: the ${name} map has ${maps[name].length} bytes, expected ${CU_TENSOR_MAP_BYTES}`);
    }
    bytes.set(maps[name], FWD90_ARGS_OFFSETS[name]);
  }
  bytes.set(packFlashParams(params), FWD90_ARGS_OFFSETS.p);
  return bytes;
}
