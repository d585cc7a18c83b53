// Between the gRPC messages of `inference.GRPCInferenceService` and the runtime's own InferRequest and outputs.
// A request is translated into the header the HTTP side validates (runtime/request.ts), with every tensor in the
// binary layout, so both transports share one validation and one set of error messages.
import { isDatatype, typeInfo, type Datatype } from '../datatypes.js';
import { fail, RuntimeError } from '../errors.js';
import { checkInferRequest, type InferRequest } from '../request.js';
import { elementCount, encodeBinaryData, lengthPrefixed } from '../tensors.js';
import type { OutputTensor } from '../batching.js';
import type { ModelSignature } from '../signature.js';

/** `InferParameter` as loaded (64-bit integers as decimal strings; `parameter_choice` names the set member). */
export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
}

export interface InferTensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: string[];
  uint_contents: number[];
  uint64_contents: string[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Uint8Array[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: string[];
  parameters: Record<string, InferParameter>;
  contents: InferTensorContents | null;
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: InferInputTensor[];
  outputs: { name: string; parameters: Record<string, InferParameter> }[];
  raw_input_contents: Uint8Array[];
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: Record<string, unknown>;
  outputs: { name: string; datatype: string; shape: number[] }[];
  raw_output_contents: Uint8Array[];
}

type ContentsField = keyof InferTensorContents;

/** Where typed contents of each datatype travel; FP16 and BF16 have no typed field (raw only). */
const CONTENTS_FIELD: Partial<Record<Datatype, ContentsField>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents',
  UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents',
  FP32: 'fp32_contents', FP64: 'fp64_contents', BYTES: 'bytes_contents',
};

const INT_RANGE: Partial<Record<Datatype, [number, number]>> = {
  INT8: [-128, 127], INT16: [-32768, 32767], UINT8: [0, 255], UINT16: [0, 65535],
};

/** A parameter's value as the JSON form of the protocol carries it. */
function parameterValue(p: InferParameter): unknown {
  switch (p.parameter_choice) {
    case 'bool_param': return p.bool_param;
    case 'string_param': return p.string_param;
    case 'double_param': return p.double_param;
    case 'int64_param': return Number(p.int64_param);
    case 'uint64_param': return Number(p.uint64_param);
    default: return undefined;
  }
}

function parameters(map: Record<string, InferParameter> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(map ?? {})) {
    const value = parameterValue(v);
    if (value !== undefined) out[k] = value;
  }
  return out;
}

/** The request's shape as numbers, or undefined when it is not a list of non-negative safe integers. */
function plainShape(shape: string[]): number[] | undefined {
  const dims = shape.map(Number);
  return dims.every((d) => Number.isSafeInteger(d) && d >= 0) ? dims : undefined;
}

/** Typed contents in the binary layout of their datatype, checked element by element like JSON `data`. */
function contentsBytes(datatype: Datatype, field: string, contents: InferTensorContents | null, count: number | undefined): Uint8Array {
  const want = CONTENTS_FIELD[datatype];
  const present = contents ? (Object.keys(CONTENTS_FIELD_NAMES) as ContentsField[]).filter((f) => contents[f].length > 0) : [];
  if (!want) fail('DataMismatch', `${field}: ${datatype} data travels only in raw_input_contents`);
  const wrong = present.find((f) => f !== want);
  if (wrong) fail('DataMismatch', `${field}.contents.${wrong}: ${datatype} data goes in contents.${want}`);
  const values = (contents?.[want] ?? []) as unknown[];
  if (count !== undefined && values.length !== count) {
    if (values.length === 0) fail('InvalidRequest', `${field}: needs contents.${want} or raw_input_contents`);
    fail('DataMismatch', `${field}.contents.${want}: has ${values.length} elements but the shape needs ${count}`);
  }
  if (datatype === 'BYTES') return lengthPrefixed(values as Uint8Array[]);
  const info = typeInfo(datatype);
  const arr = new info.array!(values.length);
  if (datatype === 'INT64' || datatype === 'UINT64') {
    const big = arr as BigInt64Array | BigUint64Array;
    const [lo, hi] = datatype === 'INT64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
    (values as string[]).forEach((v, i) => {
      const n = BigInt(v);
      if (n < lo || n > hi) fail('DataMismatch', `${field}.contents.${want}[${i}]: ${v} is out of range for ${datatype}`);
      big[i] = n;
    });
  } else if (datatype === 'BOOL') {
    (values as boolean[]).forEach((v, i) => (arr[i] = v ? 1 : 0));
  } else {
    const range = INT_RANGE[datatype];
    const num = arr as Exclude<typeof arr, BigInt64Array | BigUint64Array>;
    (values as number[]).forEach((v, i) => {
      if (range && (v < range[0] || v > range[1])) fail('DataMismatch', `${field}.contents.${want}[${i}]: ${v} is out of range for ${datatype}`);
      num[i] = v;
    });
  }
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

const CONTENTS_FIELD_NAMES: Record<ContentsField, true> = {
  bool_contents: true, int_contents: true, int64_contents: true, uint_contents: true,
  uint64_contents: true, fp32_contents: true, fp64_contents: true, bytes_contents: true,
};

function hasContents(c: InferTensorContents | null): boolean {
  return !!c && (Object.keys(CONTENTS_FIELD_NAMES) as ContentsField[]).some((f) => c[f].length > 0);
}

/** Bytes grpc-js puts before a message in its own buffer: the compressed flag and the length of the frame. */
const FRAME_PREFIX_BYTES = 5;

/** Requests whose `raw_input_contents` are views into an ArrayBuffer that holds nothing but that request. */
const ownedRequests = new WeakSet<ModelInferRequest>();

/** The size on the wire of each infer request decoded by a tracking deserializer. */
const wireBytes = new WeakMap<ModelInferRequest, number>();

/** The bytes a decoded request arrived in (what the in-flight budget holds for it); 0 when it was not tracked. */
export function messageBytes(msg: ModelInferRequest): number {
  return wireBytes.get(msg) ?? 0;
}

/**
 * Wraps a ModelInferRequest deserializer so that the requests it decodes from a buffer of their own (grpc-js
 * gives each message of a call a fresh buffer, the frame prefix before it; small messages may lie in node's
 * shared pool instead) are known as owned: their raw inputs may then be handed to the session worker without a
 * copy. Views into the pool, or contents not viewing the message's buffer, are left to the copy path. Every
 * request's size on the wire is noted too, for the in-flight budget.
 */
export function ownershipTracking(deserialize: (bytes: Buffer) => ModelInferRequest): (bytes: Buffer) => ModelInferRequest {
  return (bytes) => {
    const msg = deserialize(bytes);
    wireBytes.set(msg, bytes.byteLength);
    const whole = bytes.buffer;
    if (whole instanceof ArrayBuffer && whole.byteLength - bytes.byteLength <= FRAME_PREFIX_BYTES
      && msg.raw_input_contents.every((r) => r.buffer === whole)) {
      ownedRequests.add(msg);
    }
    return msg;
  };
}

/** Whether a body holds an ArrayBuffer all of its own (made here, not a view into node's pool or a message). */
const ownsWholeBuffer = (b: Buffer) => b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;

/**
 * Decodes and validates a ModelInferRequest against the model's signature: inputs from `raw_input_contents` (one
 * entry per input, in order) or from each input's typed `contents`.
 */
export function decodeInferRequest(msg: ModelInferRequest, sig: ModelSignature): InferRequest {
  const raw = msg.raw_input_contents;
  if (raw.length > 0 && raw.length !== msg.inputs.length) {
    fail('InvalidRequest', `raw_input_contents: has ${raw.length} entries but the request has ${msg.inputs.length} inputs (one entry per input, in order)`);
  }
  const chunks: Uint8Array[] = [];
  const inputs = msg.inputs.map((t, i) => {
    const field = `inputs[${i}]`;
    const shape = plainShape(t.shape);
    const count = shape && elementCount(shape);
    let bytes: Uint8Array;
    if (raw.length > 0) {
      if (hasContents(t.contents)) fail('InvalidRequest', `${field}.contents: must be empty when raw_input_contents is used`);
      bytes = raw[i];
      const size = isDatatype(t.datatype) ? typeInfo(t.datatype).size : 0;
      if (size > 0 && count !== undefined && bytes.byteLength !== count * size) {
        fail('BinaryDataMismatch', `raw_input_contents[${i}]: is ${bytes.byteLength} bytes but ${field} (shape [${shape!.join(',')}] of ${t.datatype}) needs ${count * size}`);
      }
    } else if (isDatatype(t.datatype)) {
      bytes = contentsBytes(t.datatype, field, t.contents, count);
    } else {
      bytes = new Uint8Array(0); // the datatype is refused below, naming the field
    }
    chunks.push(bytes);
    return { name: t.name, datatype: t.datatype, shape: shape ?? t.shape.map(Number), parameters: { ...parameters(t.parameters), binary_data_size: bytes.byteLength } };
  });
  const header: Record<string, unknown> = { inputs, parameters: parameters(msg.parameters) };
  if (msg.id !== '') header.id = msg.id;
  if (msg.outputs.length > 0) header.outputs = msg.outputs.map((o) => ({ name: o.name, parameters: parameters(o.parameters) }));
  const body = chunks.length === 1 ? Buffer.from(chunks[0].buffer, chunks[0].byteOffset, chunks[0].byteLength) : Buffer.concat(chunks);
  // The inputs are this request's alone when they view its own message buffer, or a buffer made here for them.
  const exclusive = raw.length === 1 ? ownedRequests.has(msg) : ownsWholeBuffer(body);
  return checkInferRequest(header, body, 0, true, sig, exclusive);
}

/** The answer: every requested output, in the order asked, its bytes in `raw_output_contents`. */
export function encodeInferResponse(modelName: string, modelVersion: string, sig: ModelSignature, req: InferRequest, outputs: OutputTensor[]): ModelInferResponse {
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const tensors: ModelInferResponse['outputs'] = [];
  const raw: Uint8Array[] = [];
  for (const want of req.outputs) {
    const o = byName.get(want.name);
    if (!o) throw new RuntimeError('Internal', `internal error: the model returned no output ${want.name}`);
    tensors.push({ name: o.name, datatype: sig.outputs.find((s) => s.name === o.name)!.datatype, shape: o.shape });
    raw.push(encodeBinaryData(o.data));
  }
  return { model_name: modelName, model_version: modelVersion, id: req.id ?? '', outputs: tensors, raw_output_contents: raw };
}
