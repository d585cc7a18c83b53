// Parses and validates an inference request (JSON, optionally followed by binary tensor chunks) against a
// model's signature. Every refusal names the field and the reason; nothing is allocated for a tensor before
// its shape has been checked against the data actually sent.
import { isUtf8 } from 'node:buffer';
import { isDatatype, isSupportedByRuntime, type Datatype } from './datatypes.js';
import { fail } from './errors.js';
import type { ModelSignature, TensorSpec } from './signature.js';
import { decodeBinaryData, decodeJsonData, type TensorPayload } from './tensors.js';
import { firstInvalidUtf8 } from './unicode.js';

export interface DecodedInput {
  name: string;
  datatype: Datatype;
  shape: number[];
  payload: TensorPayload;
}

export interface RequestedOutput {
  name: string;
  binary: boolean;
}

export interface InferRequest {
  id?: string;
  /** In the model's input order. */
  inputs: DecodedInput[];
  /** In the order the client asked for (every model output when it asked for none). */
  outputs: RequestedOutput[];
  /** The shared first dimension of every input, when there is one. */
  batchSize?: number;
}

const MAX_DIM = 2 ** 31 - 1;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkParameters(v: unknown, field: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (!isObject(v)) fail('InvalidRequest', `${field}: must be an object`);
  return v;
}

function checkShape(v: unknown, spec: TensorSpec, field: string): number[] {
  if (!Array.isArray(v)) fail('ShapeMismatch', `${field}.shape: must be an array of non-negative integers`);
  if (v.length !== spec.shape.length) {
    fail('ShapeMismatch', `${field}.shape: has rank ${v.length} but input ${spec.name} has rank ${spec.shape.length} ([${spec.shape.join(',')}])`);
  }
  v.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) fail('ShapeMismatch', `${field}.shape[${i}]: ${JSON.stringify(d)} is not a non-negative integer`);
    if (d > MAX_DIM) fail('ShapeMismatch', `${field}.shape[${i}]: ${d} exceeds ${MAX_DIM}`);
    if (spec.shape[i] !== -1 && spec.shape[i] !== d) {
      fail('ShapeMismatch', `${field}.shape[${i}]: is ${d} but input ${spec.name} requires ${spec.shape[i]} ([${spec.shape.join(',')}])`);
    }
  });
  return v as number[];
}

function parseHeader(text: Buffer): Record<string, unknown> {
  // Bytes that are not UTF-8 would be read as U+FFFD: a BYTES element the client never sent.
  if (!isUtf8(text)) {
    const at = firstInvalidUtf8(text);
    fail('MalformedJson', `request body is not valid UTF-8: byte 0x${text[at].toString(16).padStart(2, '0')} at offset ${at} does not begin or continue a character; send JSON as UTF-8`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString('utf8'));
  } catch (err) {
    fail('MalformedJson', `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) fail('InvalidRequest', 'request body must be a JSON object');
  return parsed;
}

/**
 * @param headerLength the `Inference-Header-Content-Length` header when binary chunks follow the JSON.
 * @param exclusiveBody nothing but this request holds the body's ArrayBuffer: binary inputs, views into it, may
 * be handed over by transfer.
 */
export function parseInferRequest(body: Buffer, headerLength: number | undefined, sig: ModelSignature, exclusiveBody = false): InferRequest {
  if (headerLength !== undefined && (headerLength > body.byteLength || headerLength < 0)) {
    fail('BinaryDataMismatch', `Inference-Header-Content-Length: ${headerLength} exceeds the body's ${body.byteLength} bytes`);
  }
  const jsonEnd = headerLength ?? body.byteLength;
  return checkInferRequest(parseHeader(body.subarray(0, jsonEnd)), body, jsonEnd, headerLength !== undefined, sig, exclusiveBody);
}

/** Where binary tensor data lies: in `body` from `jsonEnd` on, read in order of the inputs that announce it. */
interface BinarySource {
  body: Buffer;
  jsonEnd: number;
  /** Whether binary data was announced at all (Inference-Header-Content-Length). */
  binary: boolean;
  exclusiveBody: boolean;
  /** Where the next input's binary data begins. */
  offset: number;
}

/**
 * Validates a decoded request header (the JSON object, or its equivalent from another transport). Inputs with
 * `parameters.binary_data_size` read their bytes from `body`, in order, from `jsonEnd` on; `binary` says whether
 * binary data was announced at all; `exclusiveBody` as for parseInferRequest.
 */
export function checkInferRequest(req: Record<string, unknown>, body: Buffer, jsonEnd: number, binary: boolean, sig: ModelSignature, exclusiveBody = false): InferRequest {
  let id: string | undefined;
  if (req.id !== undefined) {
    if (typeof req.id !== 'string') fail('InvalidRequest', 'id: must be a string');
    id = req.id;
  }
  const params = checkParameters(req.parameters, 'parameters');
  const binaryOutputDefault = params.binary_data_output;
  if (binaryOutputDefault !== undefined && typeof binaryOutputDefault !== 'boolean') {
    fail('InvalidRequest', 'parameters.binary_data_output: must be a boolean');
  }
  const inputs = checkInputs(req.inputs, sig, { body, jsonEnd, binary, exclusiveBody, offset: jsonEnd });
  const outputs = checkOutputs(req.outputs, sig, binaryOutputDefault === true);
  const first = inputs[0]?.shape[0];
  const batchSize = inputs.length > 0 && inputs.every((x) => x.shape.length > 0 && x.shape[0] === first) ? first : undefined;
  return { id, inputs, outputs, batchSize };
}

/** Every input the model takes, each once, in the model's order; binary data used to its last byte. */
function checkInputs(raw: unknown, sig: ModelSignature, src: BinarySource): DecodedInput[] {
  if (raw === undefined) fail('InvalidRequest', 'inputs: is required');
  if (!Array.isArray(raw)) fail('InvalidRequest', 'inputs: must be an array');
  const byName = new Map<string, DecodedInput>();
  raw.forEach((input: unknown, i: number) => {
    const decoded = checkInput(input, `inputs[${i}]`, sig, byName, src);
    byName.set(decoded.name, decoded);
  });
  const { body, jsonEnd } = src;
  if (src.offset !== body.byteLength) {
    fail('BinaryDataMismatch', `binary data: ${body.byteLength - jsonEnd} bytes sent but the inputs' binary_data_size add up to ${src.offset - jsonEnd}`);
  }
  const missing = sig.inputs.filter((s) => !byName.has(s.name)).map((s) => s.name);
  if (missing.length > 0) fail('MissingInput', `inputs: missing ${missing.map((m) => `"${m}"`).join(', ')}`);
  return sig.inputs.map((s) => byName.get(s.name)!);
}

/** One input: a model input not given before, of its datatype and shape, with its data (JSON or binary). */
function checkInput(raw: unknown, field: string, sig: ModelSignature, seen: ReadonlyMap<string, DecodedInput>, src: BinarySource): DecodedInput {
  if (!isObject(raw)) fail('InvalidRequest', `${field}: must be an object`);
  if (typeof raw.name !== 'string') fail('InvalidRequest', `${field}.name: must be a string`);
  const spec = sig.inputs.find((s) => s.name === raw.name);
  if (!spec) fail('UnknownInput', `${field}.name: unknown input "${raw.name}"; the model takes ${sig.inputs.map((s) => s.name).join(', ')}`);
  if (seen.has(spec.name)) fail('DuplicateInput', `${field}.name: input "${spec.name}" appears more than once`);
  if (!isDatatype(raw.datatype)) fail('DatatypeMismatch', `${field}.datatype: ${JSON.stringify(raw.datatype)} is not a protocol datatype`);
  if (raw.datatype !== spec.datatype) fail('DatatypeMismatch', `${field}.datatype: is ${raw.datatype} but input ${spec.name} is ${spec.datatype}`);
  if (!isSupportedByRuntime(spec.datatype)) fail('UnsupportedDatatype', `${field}.datatype: ${spec.datatype} cannot be exchanged with onnxruntime-node`);
  const shape = checkShape(raw.shape, spec, field);
  const p = checkParameters(raw.parameters, `${field}.parameters`);
  let payload: TensorPayload;
  if (p.binary_data_size !== undefined) {
    if (raw.data !== undefined) fail('InvalidRequest', `${field}: has both data and parameters.binary_data_size`);
    payload = binaryPayload(p.binary_data_size, spec, shape, field, src);
  } else {
    if (raw.data === undefined) fail('InvalidRequest', `${field}: needs data or parameters.binary_data_size`);
    payload = decodeJsonData(spec.datatype, shape, raw.data, field);
  }
  return { name: spec.name, datatype: spec.datatype, shape, payload };
}

/** An input's binary data: the next `size` bytes after the JSON, which must have been sent. */
function binaryPayload(size: unknown, spec: TensorSpec, shape: number[], field: string, src: BinarySource): TensorPayload {
  const { body, jsonEnd } = src;
  if (!src.binary) fail('BinaryDataMismatch', `${field}.parameters.binary_data_size: binary data needs the Inference-Header-Content-Length header`);
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) fail('BinaryDataMismatch', `${field}.parameters.binary_data_size: must be a non-negative integer`);
  if (src.offset + size > body.byteLength) {
    fail('BinaryDataMismatch', `${field}.parameters.binary_data_size: ${size} bytes at offset ${src.offset - jsonEnd} run past the ${body.byteLength - jsonEnd} bytes of binary data sent`);
  }
  const payload = decodeBinaryData(spec.datatype, shape, body.subarray(src.offset, src.offset + size), field);
  if (src.exclusiveBody && 'bytes' in payload) payload.exclusive = true;
  src.offset += size;
  return payload;
}

/** The outputs asked for, each once, in the client's order; every model output when none is named. */
function checkOutputs(raw: unknown, sig: ModelSignature, binaryByDefault: boolean): RequestedOutput[] {
  if (raw === undefined) return sig.outputs.map((o) => ({ name: o.name, binary: binaryByDefault }));
  if (!Array.isArray(raw)) fail('InvalidRequest', 'outputs: must be an array');
  const seen = new Set<string>();
  return raw.map((out: unknown, i: number) => {
    const field = `outputs[${i}]`;
    if (!isObject(out)) fail('InvalidRequest', `${field}: must be an object`);
    if (typeof out.name !== 'string') fail('InvalidRequest', `${field}.name: must be a string`);
    if (!sig.outputs.some((o) => o.name === out.name)) {
      fail('UnknownOutput', `${field}.name: unknown output "${out.name}"; the model has ${sig.outputs.map((o) => o.name).join(', ')}`);
    }
    if (seen.has(out.name)) fail('InvalidRequest', `${field}.name: output "${out.name}" is requested more than once`);
    seen.add(out.name);
    const p = checkParameters(out.parameters, `${field}.parameters`);
    if (p.binary_data !== undefined && typeof p.binary_data !== 'boolean') fail('InvalidRequest', `${field}.parameters.binary_data: must be a boolean`);
    if (p.classification !== undefined) fail('InvalidRequest', `${field}.parameters.classification: the classification extension is not supported`);
    return { name: out.name, binary: (p.binary_data as boolean | undefined) ?? binaryByDefault };
  });
}
