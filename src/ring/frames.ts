/**
 * The wire format between ring processes: length-prefixed binary frames. A frame is a 4-byte
 * big-endian header length, a JSON header, then the raw bytes of the header's parts back to back
 * (little-endian element bytes, as the host arrays hold them).
 */
import { type Dtype, bytesPerElement } from '../dtype.js';
import type { HostArray } from '../dtype.js';

export interface PartInfo {
  dtype: Dtype;
  length: number;
}

export interface FrameHeader {
  /** 'hello' opens a connection (names the sending process); 'block' carries one rank's block. */
  kind: 'hello' | 'block';
  /** the group's id (from initDistributed), so that a stray connection is refused */
  group?: string;
  /** the sending process (hello) */
  process?: number;
  /** the transfer's sequence number: the n-th begin() of the group, the same on every process */
  seq?: number;
  /** sending and receiving global ranks (block) */
  from?: number;
  to?: number;
  parts?: PartInfo[];
}

export interface Frame {
  header: FrameHeader;
  parts: HostArray[];
}

export function partBytes(p: PartInfo): number {
  return p.length * bytesPerElement(p.dtype);
}

/** One buffer holding a whole frame (copies the arrays: the caller may reuse them at once). */
export function encodeFrame(header: FrameHeader, arrays: readonly HostArray[] = []): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const payload = arrays.reduce((sum, a) => sum + a.byteLength, 0);
  const frame = Buffer.allocUnsafe(4 + json.length + payload);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, 4);
  let at = 4 + json.length;
  for (const a of arrays) {
    frame.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  return frame;
}

/** Reassembles frames from a byte stream; `push` returns every frame completed by `chunk`. */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #header: FrameHeader | undefined;
  #payloadBytes = 0;

  constructor(private readonly maxHeaderBytes = 1 << 20) {}

  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (!this.#header) {
        if (this.#buffered < 4) break;
        const headerBytes = this.#peek(4).readUInt32BE(0);
        if (headerBytes > this.maxHeaderBytes) throw new Error(`a frame header of ${headerBytes} bytes (not a flash-attn ring peer?)`);
        if (this.#buffered < 4 + headerBytes) break;
        this.#take(4);
        const header = JSON.parse(this.#take(headerBytes).toString('utf8')) as FrameHeader;
        this.#header = header;
        this.#payloadBytes = (header.parts ?? []).reduce((sum, p) => sum + partBytes(p), 0);
      }
      if (this.#buffered < this.#payloadBytes) break;
      const header = this.#header;
      const payload = this.#take(this.#payloadBytes);
      this.#header = undefined;
      let at = 0;
      const parts = (header.parts ?? []).map((p) => {
        const bytes = partBytes(p);
        // A fresh, aligned array: the payload's offset inside the stream is arbitrary.
        const array = p.dtype === 'float32' ? new Float32Array(p.length) : new Uint16Array(p.length);
        new Uint8Array(array.buffer).set(payload.subarray(at, at + bytes));
        at += bytes;
        return array;
      });
      frames.push({ header, parts });
    }
    return frames;
  }

  #peek(bytes: number): Buffer {
    if (this.#chunks[0].length < bytes) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0];
  }

  /** The next `bytes` buffered bytes (the caller checked they are there). */
  #take(bytes: number): Buffer {
    const whole = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    this.#chunks = whole.length > bytes ? [whole.subarray(bytes)] : [];
    this.#buffered -= bytes;
    return whole.subarray(0, bytes);
  }
}
