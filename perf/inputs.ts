// What perf sends: concrete input shapes from the model's metadata (variable dimensions from --shape and
// --batch-size) and tensor contents (seeded random, zeros, or a file in perf_analyzer's --input-data layout).
import { readFileSync } from 'node:fs';
import { isDatatype, isSupportedByRuntime, toHalf, typeInfo, type Datatype } from '../runtime/datatypes.js';
import { RuntimeError } from '../runtime/errors.js';
import { decodeJsonData, elementCount, type TensorPayload } from '../runtime/tensors.js';
import type { InputData } from './config.js';
import { invalid, PerfError } from './errors.js';
import { seededRandom } from '../common/seeded-random.js';

export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions?: string[];
  platform?: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export interface InputTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  payload: TensorPayload;
}

/** One request's worth of inputs, in the model's input order. */
export type RequestSample = InputTensor[];

function tensorList(v: unknown, field: string): TensorMetadata[] {
  if (!Array.isArray(v)) throw new PerfError('ModelUnavailable', `model metadata: ${field} is not an array`);
  return v.map((t: any, i: number) => {
    if (typeof t?.name !== 'string') throw new PerfError('ModelUnavailable', `model metadata: ${field}[${i}].name is not a string`);
    if (!isDatatype(t.datatype)) throw new PerfError('ModelUnavailable', `model metadata: ${field}[${i}] (${t.name}): datatype ${JSON.stringify(t.datatype)} is not a protocol datatype`);
    if (!Array.isArray(t.shape) || !t.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= -1)) {
      throw new PerfError('ModelUnavailable', `model metadata: ${field}[${i}] (${t.name}): shape ${JSON.stringify(t.shape)} is not a list of dimensions`);
    }
    return { name: t.name, datatype: t.datatype, shape: t.shape.map(Number) };
  });
}

/** Checks a model metadata answer (any Open Inference Protocol server) and keeps what perf needs. */
export function parseModelMetadata(body: unknown): ModelMetadata {
  const b = body as Record<string, unknown>;
  if (typeof b !== 'object' || b === null || typeof b.name !== 'string') throw new PerfError('ModelUnavailable', 'model metadata: the answer has no name');
  const inputs = tensorList(b.inputs, 'inputs');
  if (inputs.length === 0) throw new PerfError('ModelUnavailable', `model metadata: model ${b.name} declares no inputs`);
  return {
    name: b.name,
    versions: Array.isArray(b.versions) ? b.versions.map(String) : undefined,
    platform: typeof b.platform === 'string' ? b.platform : undefined,
    inputs,
    outputs: b.outputs === undefined ? [] : tensorList(b.outputs, 'outputs'),
  };
}

/** Concrete shapes for every input: --shape where given, --batch-size for a variable first dimension. */
export function resolveShapes(inputs: TensorMetadata[], given: Record<string, number[]>, batchSize: number): Record<string, number[]> {
  const names = inputs.map((i) => i.name);
  for (const name of Object.keys(given)) {
    if (!names.includes(name)) invalid(`--shape: the model has no input "${name}"; its inputs are ${names.join(', ')}`);
  }
  const out: Record<string, number[]> = {};
  for (const input of inputs) {
    const spec = `[${input.shape.join(',')}]`;
    const g = given[input.name];
    if (g) {
      if (g.length !== input.shape.length) invalid(`--shape ${input.name}: has rank ${g.length} but the input has rank ${input.shape.length} (${spec})`);
      g.forEach((d, i) => {
        if (input.shape[i] !== -1 && input.shape[i] !== d) invalid(`--shape ${input.name}: dimension ${i} is ${d} but the input requires ${input.shape[i]} (${spec})`);
      });
      out[input.name] = g;
      continue;
    }
    out[input.name] = input.shape.map((d, i) => {
      if (d !== -1) return d;
      if (i === 0) return batchSize;
      invalid(`input ${input.name} has variable dimension ${i} (${spec}); give its shape with --shape ${input.name}:${input.shape.map((x, j) => (j === 0 && x === -1 ? batchSize : x === -1 ? 'N' : x)).join(',')}`);
    });
  }
  return out;
}

function generated(dt: Datatype, shape: number[], rand: (() => number) | undefined): TensorPayload {
  const count = elementCount(shape);
  const info = typeInfo(dt);
  if (!info.array) return { strings: Array.from({ length: count }, () => (rand ? Math.floor(rand() * 2 ** 32).toString(36) : '')) };
  const arr = new info.array(count);
  if (rand) {
    for (let i = 0; i < count; i++) {
      const r = rand();
      switch (info.json) {
        case 'half': arr[i] = toHalf(r); break;
        case 'boolean': arr[i] = r < 0.5 ? 0 : 1; break;
        case 'bigint': (arr as BigInt64Array)[i] = BigInt(Math.floor(r * 100)); break;
        default: arr[i] = dt === 'FP32' || dt === 'FP64' ? r : Math.floor(r * 100);
      }
    }
  }
  return { bytes: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength) };
}

function checkTransferable(inputs: TensorMetadata[]): void {
  for (const i of inputs) if (!isSupportedByRuntime(i.datatype)) invalid(`input ${i.name}: datatype ${i.datatype} cannot be generated; give --input-data FILE`);
}

/** perf_analyzer's --input-data JSON: {"data": [{"INPUT0": [..] | {"content": [..], "shape": [..]}}, ...]}. */
function samplesFromFile(path: string, inputs: TensorMetadata[], shapes: Record<string, number[]>): RequestSample[] {
  let doc: any;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    invalid(`--input-data ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (or use random or zero)' : `not readable JSON: ${(err as Error).message}`}`);
  }
  if (!Array.isArray(doc?.data) || doc.data.length === 0) invalid(`--input-data ${path}: needs {"data": [{"<input>": [values], ...}, ...]} with at least one entry`);
  return doc.data.map((entry: any, n: number) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) invalid(`--input-data ${path}: data[${n}] must be an object keyed by input name`);
    for (const k of Object.keys(entry)) if (!inputs.some((i) => i.name === k)) invalid(`--input-data ${path}: data[${n}].${k}: the model has no such input`);
    return inputs.map((input) => {
      const v = entry[input.name];
      const field = `data[${n}].${input.name}`;
      if (v === undefined) invalid(`--input-data ${path}: ${field} is missing`);
      const content = Array.isArray(v) ? v : v?.content;
      const shape: number[] = Array.isArray(v) ? shapes[input.name] : (v?.shape ?? shapes[input.name]);
      if (!Array.isArray(content)) invalid(`--input-data ${path}: ${field} must be an array of values or {"content": [...], "shape": [...]}`);
      try {
        return { name: input.name, datatype: input.datatype, shape, payload: decodeJsonData(input.datatype, shape, content, field) };
      } catch (err) {
        if (err instanceof RuntimeError) invalid(`--input-data ${path}: ${err.message}`);
        throw err;
      }
    });
  });
}

/** Distinct requests to cycle through, so concurrent callers send different contents. */
export function buildSamples(inputs: TensorMetadata[], shapes: Record<string, number[]>, data: InputData, seed: number, count = 8): RequestSample[] {
  if (data.kind === 'file') return samplesFromFile(data.path, inputs, shapes);
  checkTransferable(inputs);
  const rand = data.kind === 'random' ? seededRandom(seed) : undefined;
  const n = data.kind === 'random' ? count : 1;
  return Array.from({ length: n }, () => inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: shapes[i.name], payload: generated(i.datatype, shapes[i.name], rand) })));
}
