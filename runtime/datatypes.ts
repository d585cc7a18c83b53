// Protocol datatypes, their ONNX Runtime tensor types and their memory layout.

export type Datatype =
  | 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP16' | 'FP32' | 'FP64' | 'BF16' | 'BYTES';

export const DATATYPES: readonly Datatype[] = [
  'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64',
  'FP16', 'FP32', 'FP64', 'BF16', 'BYTES',
];

/** onnxruntime-node's tensor type names. */
export type OrtType =
  | 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64'
  | 'float16' | 'float32' | 'float64' | 'bfloat16' | 'string';

export type NumericArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | BigUint64Array | BigInt64Array | Float32Array | Float64Array;

/** Tensor contents as onnxruntime-node holds them: a typed array, or strings for BYTES. */
export type TensorData = NumericArray | string[];

interface TypeInfo {
  ort: OrtType;
  /** Bytes per element in the binary layout; 0 for BYTES (length-prefixed). */
  size: number;
  /** Constructor of the typed array onnxruntime-node uses; undefined for BYTES. */
  array?: { new (n: number): NumericArray; new (b: ArrayBuffer, offset: number, length: number): NumericArray };
  /** The JSON value kind accepted in `data`. */
  json: 'number' | 'bigint' | 'boolean' | 'string' | 'half';
}

const INFO: Record<Datatype, TypeInfo> = {
  BOOL: { ort: 'bool', size: 1, array: Uint8Array, json: 'boolean' },
  UINT8: { ort: 'uint8', size: 1, array: Uint8Array, json: 'number' },
  UINT16: { ort: 'uint16', size: 2, array: Uint16Array, json: 'number' },
  UINT32: { ort: 'uint32', size: 4, array: Uint32Array, json: 'number' },
  UINT64: { ort: 'uint64', size: 8, array: BigUint64Array, json: 'bigint' },
  INT8: { ort: 'int8', size: 1, array: Int8Array, json: 'number' },
  INT16: { ort: 'int16', size: 2, array: Int16Array, json: 'number' },
  INT32: { ort: 'int32', size: 4, array: Int32Array, json: 'number' },
  INT64: { ort: 'int64', size: 8, array: BigInt64Array, json: 'bigint' },
  FP16: { ort: 'float16', size: 2, array: Uint16Array, json: 'half' },
  FP32: { ort: 'float32', size: 4, array: Float32Array, json: 'number' },
  FP64: { ort: 'float64', size: 8, array: Float64Array, json: 'number' },
  BF16: { ort: 'bfloat16', size: 2, array: Uint16Array, json: 'half' },
  BYTES: { ort: 'string', size: 0, json: 'string' },
};

const FROM_ORT = new Map<string, Datatype>(Object.entries(INFO).map(([dt, i]) => [i.ort, dt as Datatype]));

export function isDatatype(s: unknown): s is Datatype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(INFO, s);
}

export function typeInfo(dt: Datatype): TypeInfo {
  return INFO[dt];
}

/** The protocol datatype of an onnxruntime type name (`float32` -> FP32), or undefined when it has none. */
export function datatypeOfOrt(ort: string): Datatype | undefined {
  return FROM_ORT.get(ort);
}

/** Datatypes onnxruntime-node can exchange with JavaScript. */
export function isSupportedByRuntime(dt: Datatype): boolean {
  return dt !== 'BF16';
}

// IEEE 754 half precision <-> number, for FP16 values that travel as JSON numbers.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
