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
  ['tile_counter', 'uint64'],
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
  ['dq_done', 'uint64'],
  ['dq_done_whole', 'int32'],
  ['ready_rows', 'int32'],
  ['pace_grid', 'int32'],
  ['pace_key_rows', 'int32'],
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
 * The Hopper kernels' one parameter (passed __grid_constant__): the tensor maps they read through, 128 bytes
 * each in declaration order, then FlashParams at the next 8-byte boundary, the whole padded to CUtensorMap's
 * alignment (128 with CUDA 13.0; the driver copies sizeof bytes at launch, so all of them must be there; a
 * kernel built with 12.x, where CUtensorMap is only 64-byte aligned, reads a prefix at the same offsets).
 * tests/unit/abi.test.ts compiles the headers with nvcc and checks every offset, the size and the alignment.
 */
export interface TensorMapArgsLayout<M extends string> {
  /** The maps in declaration order. */
  maps: readonly M[];
  offsets: Readonly<Record<M | 'p', number>>;
  size: number;
  alignment: number;
}

function tensorMapArgsLayout<M extends string>(maps: readonly M[]): TensorMapArgsLayout<M> {
  const offsets = {} as Record<M | 'p', number>;
  maps.forEach((name, i) => (offsets[name] = i * CU_TENSOR_MAP_BYTES));
  const p = Math.ceil((maps.length * CU_TENSOR_MAP_BYTES) / 8) * 8;
  offsets.p = p;
  const size = Math.ceil((p + FLASH_PARAMS_SIZE) / CU_TENSOR_MAP_ALIGNMENT) * CU_TENSOR_MAP_ALIGNMENT;
  return { maps, offsets, size, alignment: CU_TENSOR_MAP_ALIGNMENT };
}

/** The exact bytes of such a parameter: each map's 128 bytes as cuTensorMapEncodeTiled wrote them, then `params`. */
function packTensorMapArgs<M extends string>(
  caller: string,
  layout: TensorMapArgsLayout<M>,
  maps: Readonly<Record<M, Readonly<Uint8Array>>>,
  params: FlashParams,
): Uint8Array {
  const bytes = new Uint8Array(layout.size);
  for (const name of layout.maps) {
    if (maps[name].length !== CU_TENSOR_MAP_BYTES) {
      throw new Error(`${caller}: the ${name} map has ${maps[name].length} bytes, expected ${CU_TENSOR_MAP_BYTES}`);
    }
    bytes.set(maps[name], layout.offsets[name]);
  }
  bytes.set(packFlashParams(params), layout.offsets.p);
  return bytes;
}

/** kernels/sm90/fwd_tiles.cuh's `flash90::FwdArgs`, the Hopper forward's parameter: maps of q, k, v, o (768 bytes). */
export const FWD90_MAPS = ['q', 'k', 'v', 'o'] as const;
export type Fwd90Map = (typeof FWD90_MAPS)[number];

const FWD90_LAYOUT = tensorMapArgsLayout(FWD90_MAPS);
export const FWD90_ARGS_OFFSETS = FWD90_LAYOUT.offsets;
export const FWD90_ARGS_SIZE = FWD90_LAYOUT.size;
export const FWD90_ARGS_ALIGNMENT = FWD90_LAYOUT.alignment;

export function packFwd90Args(maps: Readonly<Record<Fwd90Map, Readonly<Uint8Array>>>, params: FlashParams): Uint8Array {
  return packTensorMapArgs('packFwd90Args', FWD90_LAYOUT, maps, params);
}

/** kernels/sm90/bwd_tiles.cuh's `flash90::BwdArgs`, the Hopper backward's parameter: maps of q, k, v, dout, dq_accum (896 bytes). */
export const BWD90_MAPS = ['q', 'k', 'v', 'dout', 'dq_accum'] as const;
export type Bwd90Map = (typeof BWD90_MAPS)[number];

const BWD90_LAYOUT = tensorMapArgsLayout(BWD90_MAPS);
export const BWD90_ARGS_OFFSETS = BWD90_LAYOUT.offsets;
export const BWD90_ARGS_SIZE = BWD90_LAYOUT.size;
export const BWD90_ARGS_ALIGNMENT = BWD90_LAYOUT.alignment;

export function packBwd90Args(maps: Readonly<Record<Bwd90Map, Readonly<Uint8Array>>>, params: FlashParams): Uint8Array {
  return packTensorMapArgs('packBwd90Args', BWD90_LAYOUT, maps, params);
}
