// Between the wire form of a run's tensors (worker-protocol.ts) and onnxruntime's tensors: one conversion for the
// session worker and for runs on the event loop (inline-lane.ts).
import ort from 'onnxruntime-node';
import { datatypeOfOrt, typeInfo } from './datatypes.js';
import type { WireTensor } from './worker-protocol.js';

/** An onnxruntime tensor over the wire tensor's bytes (a view, no copy, unless they start off their alignment). */
export function toOrtTensor(t: WireTensor): ort.Tensor {
  if (t.strings) return new ort.Tensor('string', t.strings, t.dims);
  const info = typeInfo(datatypeOfOrt(t.ortType)!);
  const offset = t.byteOffset ?? 0;
  const length = t.byteLength ?? t.buffer!.byteLength - offset;
  // Bytes handed over where they arrived may start off their element's alignment: such a view is copied here.
  const data = offset % info.size === 0
    ? new info.array!(t.buffer!, offset, length / info.size)
    : new info.array!(t.buffer!.slice(offset, offset + length), 0, length / info.size);
  return new ort.Tensor(t.ortType as 'float32', data as Float32Array, t.dims);
}

/**
 * The wire form of a run's output. With `transfer` (the output crosses to another thread), numeric data gets a
 * buffer of its own, added to the transfer list; without, it stays a view on onnxruntime's buffer.
 */
export function fromOrtTensor(name: string, t: ort.Tensor, transfer?: ArrayBuffer[]): WireTensor {
  const dims = [...t.dims];
  if (t.type === 'string') return { name, ortType: 'string', dims, strings: t.data as string[] };
  let data = t.data as unknown as ArrayBufferView;
  if (!transfer) return { name, ortType: t.type, dims, buffer: data.buffer as ArrayBuffer, byteOffset: data.byteOffset, byteLength: data.byteLength };
  if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer)) {
    data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  }
  if (!transfer.includes(data.buffer as ArrayBuffer)) transfer.push(data.buffer as ArrayBuffer);
  return { name, ortType: t.type, dims, buffer: data.buffer as ArrayBuffer };
}
