/**
 * Raw NCCL bindings (koffi over libnccl.so.2), loaded on first use, and thin checked wrappers: every
 * call goes through `check`, which turns a non-zero ncclResult_t into an NcclError with NCCL's own name
 * and message. Pointers (device buffers, streams, communicators) are bigints, branded by what they are.
 */
import { createRequire } from 'node:module';
import { envSetting } from '../env.js';
import { BackendUnavailableError, DisposedError } from '../errors.js';
import { NcclError } from './errors.js';

/** A CUDA device pointer. */
export type DevicePointer = bigint & { readonly __brand: 'DevicePointer' };
/** A cudaStream_t. */
export type StreamHandle = bigint & { readonly __brand: 'StreamHandle' };
/** An ncclComm_t. */
export type CommHandle = bigint & { readonly __brand: 'CommHandle' };

export const NCCL_UNIQUE_ID_BYTES = 128;
/** ncclDataType_t ncclUint8: transfers count bytes, whatever the element type. */
export const NCCL_UINT8 = 1;

const RESULT_NAMES = [
  'ncclSuccess',
  'ncclUnhandledCudaError',
  'ncclSystemError',
  'ncclInternalError',
  'ncclInvalidArgument',
  'ncclInvalidUsage',
  'ncclRemoteError',
  'ncclInProgress',
];

/** The C functions, under their C names. */
interface NcclLibrary {
  ncclGetVersion(version: [number]): number;
  ncclGetUniqueId(id: { internal?: Uint8Array }): number;
  ncclCommInitRank(comm: [bigint | null], nranks: number, id: { internal: Uint8Array }, rank: number): number;
  ncclCommInitAll(comms: BigUint64Array, ndev: number, devlist: Int32Array): number;
  ncclCommDestroy(comm: bigint): number;
  ncclGroupStart(): number;
  ncclGroupEnd(): number;
  ncclSend(buffer: bigint, count: number, datatype: number, peer: number, comm: bigint, stream: bigint): number;
  ncclRecv(buffer: bigint, count: number, datatype: number, peer: number, comm: bigint, stream: bigint): number;
  ncclGetErrorString(result: number): string;
}

let library: NcclLibrary | undefined;
// koffi type names are global and may be declared once per process.
let uniqueIdDeclared = false;

/** The library file: libnccl.so.2, or FLASH_ATTN_NCCL_LIBRARY (tests point it at a fake). */
export function ncclLibraryPath(): string {
  return envSetting('FLASH_ATTN_NCCL_LIBRARY') ?? 'libnccl.so.2';
}

interface KoffiLike {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown };
  struct(name: string, members: Record<string, unknown>): unknown;
  array(type: string, length: number): unknown;
}

function load(): NcclLibrary {
  if (library) return library;
  const require = createRequire(import.meta.url);
  const path = ncclLibraryPath();
  let lib: ReturnType<KoffiLike['load']>;
  let koffi: KoffiLike;
  try {
    koffi = require('koffi') as KoffiLike;
    lib = koffi.load(path);
  } catch (error) {
    throw new BackendUnavailableError(`NCCL: cannot load ${path}: ${(error as Error).message}`);
  }
  if (!uniqueIdDeclared) {
    koffi.struct('ncclUniqueId', { internal: koffi.array('uint8_t', NCCL_UNIQUE_ID_BYTES) });
    uniqueIdDeclared = true;
  }
  const f = (signature: string) => lib.func(signature);
  library = {
    ncclGetVersion: f('int ncclGetVersion(_Out_ int *version)'),
    ncclGetUniqueId: f('int ncclGetUniqueId(_Out_ ncclUniqueId *uniqueId)'),
    ncclCommInitRank: f('int ncclCommInitRank(_Out_ void **comm, int nranks, ncclUniqueId commId, int rank)'),
    ncclCommInitAll: f('int ncclCommInitAll(_Out_ uint64_t *comms, int ndev, const int *devlist)'),
    ncclCommDestroy: f('int ncclCommDestroy(uintptr_t comm)'),
    ncclGroupStart: f('int ncclGroupStart()'),
    ncclGroupEnd: f('int ncclGroupEnd()'),
    ncclSend: f('int ncclSend(uintptr_t sendbuff, size_t count, int datatype, int peer, uintptr_t comm, uintptr_t stream)'),
    ncclRecv: f('int ncclRecv(uintptr_t recvbuff, size_t count, int datatype, int peer, uintptr_t comm, uintptr_t stream)'),
    ncclGetErrorString: f('const char *ncclGetErrorString(int result)'),
  } as NcclLibrary;
  return library;
}

/** Throws an NcclError for a failed call. */
function check(call: string, result: number): void {
  if (result === 0) return;
  const name = RESULT_NAMES[result] ?? `ncclResult ${result}`;
  let detail = '';
  try {
    detail = load().ncclGetErrorString(result) ?? '';
  } catch {
    // The message is a courtesy; the result code already names the failure.
  }
  throw new NcclError(call, result, name, detail);
}

/** Whether libnccl.so.2 (or the configured library) can be loaded here. */
export function ncclAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/** NCCL's version code, like 22105 for 2.21.5. */
export function ncclVersion(): number {
  const out: [number] = [0];
  check('ncclGetVersion', load().ncclGetVersion(out));
  return out[0];
}

/** A fresh 128-byte ncclUniqueId (rank 0 makes it; initDistributed hands it to the others). */
export function ncclUniqueId(): Uint8Array {
  const id: { internal?: Uint8Array } = {};
  check('ncclGetUniqueId', load().ncclGetUniqueId(id));
  return Uint8Array.from(id.internal ?? []);
}

/** A communicator for one rank of a group formed from the same unique id (the CUDA device must be current). */
export function commInitRank(uniqueId: Uint8Array, worldSize: number, rank: number): CommHandle {
  if (uniqueId.length !== NCCL_UNIQUE_ID_BYTES) {
    throw new NcclError('ncclCommInitRank', 4, 'ncclInvalidArgument', `uniqueId must be ${NCCL_UNIQUE_ID_BYTES} bytes, got ${uniqueId.length}`);
  }
  const out: [bigint | null] = [null];
  check('ncclCommInitRank', load().ncclCommInitRank(out, worldSize, { internal: uniqueId }, rank));
  return BigInt(out[0] ?? 0) as CommHandle;
}

/** One communicator per local device, all in one group (a single process driving every local GPU). */
export function commInitAll(deviceIndices: readonly number[]): CommHandle[] {
  const comms = new BigUint64Array(deviceIndices.length);
  check('ncclCommInitAll', load().ncclCommInitAll(comms, deviceIndices.length, Int32Array.from(deviceIndices)));
  return Array.from(comms, (c) => c as CommHandle);
}

export function commDestroy(comm: CommHandle): void {
  check('ncclCommDestroy', load().ncclCommDestroy(comm));
}

export function groupStart(): void {
  check('ncclGroupStart', load().ncclGroupStart());
}

export function groupEnd(): void {
  check('ncclGroupEnd', load().ncclGroupEnd());
}

/** Enqueues sending `bytes` bytes from `buffer` to `peer` on `stream`. */
export function send(buffer: DevicePointer, bytes: number, peer: number, comm: CommHandle, stream: StreamHandle): void {
  check('ncclSend', load().ncclSend(buffer, bytes, NCCL_UINT8, peer, comm, stream));
}

/** Enqueues receiving `bytes` bytes from `peer` into `buffer` on `stream`. */
export function recv(buffer: DevicePointer, bytes: number, peer: number, comm: CommHandle, stream: StreamHandle): void {
  check('ncclRecv', load().ncclRecv(buffer, bytes, NCCL_UINT8, peer, comm, stream));
}

/** @internal For tests: forget the loaded library so a different FLASH_ATTN_NCCL_LIBRARY takes effect. */
export function resetNcclForTests(): void {
  library = undefined;
}

/** A transport used after dispose(). */
export class NcclTransportDisposedError extends DisposedError {
  constructor() {
    super('transport: the NCCL transport was disposed and its communicators destroyed');
  }
}
