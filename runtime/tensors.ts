// Tensor contents between the wire (JSON `data`, binary chunks) and onnxruntime's layout.
import { fromHalf, toHalf, typeInfo, type Datatype, type NumericArray, type TensorData } from './datatypes.js';
import { fail } from './errors.js';
import { loneSurrogateAt } from './unicode.js';

/**
 * Numeric tensors travel as little-endian bytes; BYTES tensors as strings. `exclusive`: the bytes lie in an
 * ArrayBuffer that nothing outside this request holds (not node's buffer pool, not a body read elsewhere), so a
 * request run alone may hand the buffer to the session worker by transfer instead of copying it.
 */
export type TensorPayload = { bytes: Uint8Array; exclusive?: boolean } | { strings: string[] };

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const INT_RANGE: Partial<Record<Datatype, [number, number]>> = {
  UINT8: [0, 255], UINT16: [0, 65535], UINT32: [0, 4294967295],
  INT8: [-128, 127], INT16: [-32768, 32767], INT32: [-2147483648, 2147483647],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], UINT64: [0, Number.MAX_SAFE_INTEGER],
};

const FP32_OVERFLOW = 2 ** 128 - 2 ** 103;

/** Flattens nested JSON `data` row-major; `count` is already checked to be what the shape asks. */
function flatten(data: unknown[], field: string): unknown[] {
  if (data.length === 0 || !Array.isArray(data[0])) return data;
  const out: unknown[] = [];
  const walk = (v: unknown[], depth: number) => {
    if (depth > 64) fail('DataMismatch', `${field}: nested deeper than 64 levels`);
    for (const x of v) {
      if (Array.isArray(x)) walk(x, depth + 1);
      else out.push(x);
    }
  };
  walk(data, 0);
  return out;
}

/** Decodes JSON `data` for a tensor of the given datatype and shape. */
export function decodeJsonData(datatype: Datatype, shape: readonly number[], data: unknown, field: string): TensorPayload {
  if (!Array.isArray(data)) fail('DataMismatch', `${field}.data: must be an array`);
  const count = elementCount(shape);
  const flat = flatten(data, field);
  if (flat.length !== count) {
    fail('DataMismatch', `${field}.data: has ${flat.length} elements but shape [${shape.join(',')}] needs ${count}`);
  }
  const info = typeInfo(datatype);
  if (info.json === 'string') return { strings: checkStrings(flat, field) };
  const arr = new info.array!(count);
  const bad = (i: number, what: string): never => fail('DataMismatch', `${field}.data[${i}]: ${what} for ${datatype}`);
  switch (info.json) {
    case 'boolean':
      fillBooleans(flat, arr as Uint8Array, bad);
      break;
    case 'half':
      fillHalves(flat, arr as Uint16Array, bad);
      break;
    case 'bigint':
      fillBigInts(flat, arr as BigInt64Array | BigUint64Array, INT_RANGE[datatype]!, bad);
      break;
    default: {
      const num = arr as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
      const range = INT_RANGE[datatype];
      if (range) fillInts(flat, num, range, bad);
      // JSON has no infinity: a number too large for the datatype is a mistake, not a value to round to infinity.
      // FP32: from 2^128 - 2^103 on, a double rounds to infinity. FP64: JSON.parse turns 1e999 into infinity.
      else fillFloats(flat, num, datatype === 'FP32' ? FP32_OVERFLOW : Infinity, bad);
    }
  }
  return { bytes: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength), exclusive: true };
}

/** Refuses an element of a JSON tensor, naming it and why. */
type Refuse = (i: number, what: string) => never;

/** BYTES elements: strings that have a UTF-8 form and no NUL. */
function checkStrings(flat: unknown[], field: string): string[] {
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'string') fail('DataMismatch', `${field}.data[${i}]: BYTES elements must be strings`);
    // A lone surrogate has no UTF-8 form: onnxruntime would store U+FFFD in its place.
    if (!isWellFormed(v)) fail('DataMismatch', `${field}.data[${i}]: BYTES element has a lone UTF-16 surrogate, which has no UTF-8 form; send the bytes as valid UTF-8`);
    if (v.includes('\0')) fail('DataMismatch', `${field}.data[${i}]: ${NUL_REFUSAL}`);
  }
  return flat as string[];
}

function fillBooleans(flat: unknown[], arr: Uint8Array, bad: Refuse): void {
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'boolean') bad(i, 'expected true or false');
    arr[i] = v ? 1 : 0;
  }
}

function fillHalves(flat: unknown[], arr: Uint16Array, bad: Refuse): void {
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'number') bad(i, 'expected a number');
    const h = toHalf(v as number);
    if (!Number.isFinite(fromHalf(h))) bad(i, `${v} is outside the range`);
    arr[i] = h;
  }
}

function fillBigInts(flat: unknown[], big: BigInt64Array | BigUint64Array, [lo, hi]: [number, number], bad: Refuse): void {
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'number' || !Number.isInteger(v)) bad(i, 'expected an integer');
    if ((v as number) < lo || (v as number) > hi) bad(i, `${v} is out of range`);
    big[i] = BigInt(v as number);
  }
}

function fillInts(flat: unknown[], num: Exclude<NumericArray, BigInt64Array | BigUint64Array>, [lo, hi]: [number, number], bad: Refuse): void {
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'number' || !Number.isInteger(v)) bad(i, 'expected an integer');
    if ((v as number) < lo || (v as number) > hi) bad(i, `${v} is out of range`);
    num[i] = v as number;
  }
}

function fillFloats(flat: unknown[], num: Exclude<NumericArray, BigInt64Array | BigUint64Array>, limit: number, bad: Refuse): void {
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'number') bad(i, 'expected a number');
    if (!((v as number) < limit && (v as number) > -limit)) bad(i, `${v} is outside the range`);
    num[i] = v as number;
  }
}

/** Refuses malformed UTF-8 instead of replacing it, and keeps a leading byte-order mark as data. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** onnxruntime-node ends a string tensor element at its first NUL: refuse rather than truncate. */
const NUL_REFUSAL = 'contains a NUL byte, which onnxruntime-node string tensors cut the element short at';

function isWellFormed(s: string): boolean {
  return loneSurrogateAt(s) === -1;
}

/** Decodes one binary chunk: raw little-endian elements, or length-prefixed strings for BYTES. */
export function decodeBinaryData(datatype: Datatype, shape: readonly number[], chunk: Uint8Array, field: string): TensorPayload {
  const count = elementCount(shape);
  const info = typeInfo(datatype);
  if (info.size > 0) {
    if (chunk.byteLength !== count * info.size) {
      fail('BinaryDataMismatch', `${field}: binary_data_size is ${chunk.byteLength} bytes but shape [${shape.join(',')}] of ${datatype} needs ${count * info.size}`);
    }
    return { bytes: chunk };
  }
  const strings: string[] = new Array(count);
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 4 > chunk.byteLength) fail('BinaryDataMismatch', `${field}: BYTES data ends before element ${i} of ${count}`);
    const len = view.getUint32(off, true);
    off += 4;
    if (off + len > chunk.byteLength) fail('BinaryDataMismatch', `${field}: BYTES element ${i} claims ${len} bytes past the end of its data`);
    const element = chunk.subarray(off, off + len);
    try {
      strings[i] = utf8.decode(element);
    } catch {
      fail('DataMismatch', `${field}: BYTES element ${i} is not valid UTF-8; onnxruntime-node holds strings as text and cannot carry these bytes unaltered`);
    }
    if (element.includes(0)) fail('DataMismatch', `${field}: BYTES element ${i} ${NUL_REFUSAL}`);
    off += len;
  }
  if (off !== chunk.byteLength) fail('BinaryDataMismatch', `${field}: ${chunk.byteLength - off} bytes left over after ${count} BYTES elements`);
  return { strings };
}

/** A float as JSON writes it: null where JSON has no number (NaN, infinities), and -0 with its sign, as it came. */
function jsonFloat(v: number): string {
  if (!Number.isFinite(v)) return 'null';
  return v === 0 && 1 / v < 0 ? '-0' : String(v);
}

function finiteOrNull(arr: Float32Array | Float64Array): string {
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    // The plain join writes every finite value but -0, which it writes as 0.
    if (!Number.isFinite(v) || (v === 0 && 1 / v < 0)) return Array.from(arr, jsonFloat).join(',');
  }
  return arr.join(',');
}

/** The JSON text of a tensor's `data` array (flat, row-major). Non-finite floats have no JSON form: null; -0 keeps its sign. */
export function encodeJsonData(datatype: Datatype, data: TensorData): string {
  if (Array.isArray(data)) return JSON.stringify(data);
  switch (datatype) {
    case 'BOOL':
      return `[${Array.from(data as Uint8Array, (v) => (v ? 'true' : 'false')).join(',')}]`;
    case 'FP16':
      return `[${Array.from(data as Uint16Array, (v) => jsonFloat(fromHalf(v))).join(',')}]`;
    case 'FP32':
    case 'FP64':
      return `[${finiteOrNull(data as Float32Array | Float64Array)}]`;
    default:
      return `[${(data as NumericArray).join(',')}]`;
  }
}

/** BYTES elements in the binary form: each preceded by its length as a 4-byte little-endian integer. */
export function lengthPrefixed(items: readonly Uint8Array[]): Uint8Array {
  const out = Buffer.allocUnsafe(items.reduce((n, b) => n + 4 + b.byteLength, 0));
  let off = 0;
  for (const b of items) {
    out.writeUInt32LE(b.byteLength, off);
    out.set(b, off + 4);
    off += 4 + b.byteLength;
  }
  return out;
}

export function encodeBinaryData(data: TensorData): Uint8Array {
  if (!Array.isArray(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return lengthPrefixed(data.map((s) => Buffer.from(String(s), 'utf8')));
}
