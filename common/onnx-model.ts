// Reading and writing ONNX ModelProto files with onnx-proto, external-data tensors included: on the way in
// every external tensor is read into memory; on the way out large tensors go to one data file beside the model.
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { isInside } from './paths.js';
import { MODEL_FILE, modelFileIn } from './download-names.js';
import onnxProto from 'onnx-proto';
/** Why a model file cannot be read or used, in the optimiser's reason codes (it reports them as its own). */
export type ModelFileReason = 'InvalidArgument' | 'IoError' | 'InvalidModel' | 'UnsupportedModel';

/** A model file that cannot be read, parsed or used, with a stable reason. */
export class ModelFileError extends Error {
  constructor(readonly reason: ModelFileReason, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ModelFileError';
  }
}

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;

export const DT = onnx.TensorProto.DataType;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

/** The operator-set range the transformations know the semantics of (default ONNX domain). */
export const MIN_OPSET = 7;
export const MAX_OPSET = 23;

/** Tensors at least this large go to the external data file when a model is written with external data. */
export const EXTERNAL_MIN_BYTES = 1024;
/** Above this a ModelProto cannot be serialised inline (protobuf's 2 GiB limit, with margin). */
const INLINE_LIMIT_BYTES = 1.5 * 1024 ** 3;

export interface LoadedModel {
  model: ModelProto;
  /** The model file that was read. */
  path: string;
  /** Whether any tensor was stored in an external data file. */
  externalData: boolean;
  /** model.onnx plus every external data file it references. */
  bytes: number;
}

export function num(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** The default-domain opset of a model. */
export function defaultOpset(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return num(entry?.version as number | undefined);
}

/** Decodes and checks a model file; external tensors are read into memory. */
export function readModel(path: string): LoadedModel {
  let bytes: Buffer;
  try {
    if (statSync(path).isDirectory()) path = modelFileIn(path) ?? join(path, MODEL_FILE);
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelFileError(code === 'ENOENT' ? 'InvalidArgument' : 'IoError', `--model: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new ModelFileError('InvalidModel', `${path} is not an ONNX model: ${whyNotOnnx(bytes, err as Error)}`, { cause: err });
  }
  if (!model.graph || num(model.irVersion as number) <= 0 || !(model.opsetImport ?? []).length) {
    throw new ModelFileError('InvalidModel', `${path} is not an ONNX model: it has no ${!model.graph ? 'graph' : num(model.irVersion as number) <= 0 ? 'ir_version' : 'opset_import'}`);
  }
  const opset = defaultOpset(model);
  if (opset && (opset < MIN_OPSET || opset > MAX_OPSET)) {
    throw new ModelFileError('UnsupportedModel', `${path}: opset ${opset} is not supported (supported: ${MIN_OPSET} to ${MAX_OPSET})`);
  }
  const dir = dirname(resolve(path));
  let total = bytes.byteLength;
  const files = new Set<string>();
  let external = false;
  for (const t of allTensors(model.graph)) {
    if (t.dataLocation !== EXTERNAL) continue;
    external = true;
    const file = externalFile(t, dir);
    t.rawData = readExternal(t, file);
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
    t.externalData = [];
    if (!files.has(file)) {
      files.add(file);
      total += statSync(file).size;
    }
  }
  return { model, path, externalData: external, bytes: total };
}

/**
 * Why bytes that do not decode are not a model, in ONNX's terms rather than the protobuf decoder's (an index out of
 * range, a wire type at an offset): text, a file cut short, or not a ModelProto at all.
 */
export function whyNotOnnx(bytes: Uint8Array, err: Error): string {
  const head = Buffer.from(bytes.subarray(0, 512)).toString('utf8');
  if (bytes.byteLength > 0 && !head.includes('\uFFFD') && /^[\t\n\r\x20-\x7e\u00a0-\uffff]*$/.test(head)) {
    return `it is a text file (it starts ${JSON.stringify(head.slice(0, 40))}), not a binary ONNX ModelProto`;
  }
  // An ONNX file opens with its ir_version (field 1, a varint): a length running past the end means it was cut short.
  if (bytes[0] === 0x08 && /index out of range/.test(err.message)) {
    return `its ${bytes.byteLength} bytes end in the middle of the model (a truncated or partly copied file)`;
  }
  return `its ${bytes.byteLength} bytes do not decode as an ONNX ModelProto`;
}

function entry(t: TensorProto, key: string): string | undefined {
  return (t.externalData ?? []).find((e) => e.key === key)?.value ?? undefined;
}

/** The file holding an external tensor's data, refused when it is not inside the model's directory. */
export function externalFile(t: TensorProto, dir: string): string {
  const location = entry(t, 'location');
  if (!location) throw new ModelFileError('InvalidModel', `tensor ${t.name}: external data without a location`);
  const file = normalize(join(dir, location));
  if (isAbsolute(location) || file === normalize(dir) || !isInside(dir, file)) {
    throw new ModelFileError('InvalidModel', `tensor ${t.name}: external data location ${JSON.stringify(location)} is outside the model's directory`);
  }
  return file;
}

function readExternal(t: TensorProto, file: string): Uint8Array {
  const offset = Number(entry(t, 'offset') ?? 0);
  let length = entry(t, 'length') === undefined ? -1 : Number(entry(t, 'length'));
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new ModelFileError('InvalidModel', `tensor ${t.name}: external data file ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  try {
    const size = statSync(file).size;
    if (length < 0) length = size - offset;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new ModelFileError('InvalidModel', `tensor ${t.name}: external data range ${offset}+${length} lies outside ${file} (${size} bytes)`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n <= 0) break;
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Every initializer and Constant-node tensor in the graph and its subgraphs. */
export function* allTensors(g: GraphProto): Generator<TensorProto> {
  for (const t of g.initializer ?? []) yield t;
  for (const n of g.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.t) yield a.t;
      for (const t of a.tensors ?? []) yield t;
      if (a.g) yield* allTensors(a.g);
      for (const sg of a.graphs ?? []) yield* allTensors(sg);
    }
  }
}

export function tensorBytes(t: TensorProto): number {
  if (t.rawData) return t.rawData.byteLength;
  return (t.floatData?.length ?? 0) * 4 + (t.int32Data?.length ?? 0) * 4 + (t.int64Data?.length ?? 0) * 8 + (t.doubleData?.length ?? 0) * 8;
}

export function elementCount(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function dimsOf(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => num(d as number));
}

/** A float tensor's values (raw or repeated-field storage). */
export function floatsOf(t: TensorProto): Float32Array {
  if (t.rawData && t.rawData.byteLength) {
    const copy = new Uint8Array(t.rawData.byteLength);
    copy.set(t.rawData);
    return new Float32Array(copy.buffer);
  }
  return Float32Array.from(t.floatData ?? []);
}

export function rawTensor(name: string, dataType: number, dims: number[], data: ArrayBufferView): TensorProto {
  return { name, dataType, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export interface WrittenModel {
  /** File names written into the directory, data files first, model last. */
  files: string[];
  bytes: number;
}

/**
 * Writes `model` as `dir/fileName`; with external data (asked for, or needed past protobuf's limit), every tensor of
 * at least EXTERNAL_MIN_BYTES goes to `dir/<fileName>.data`. The in-memory model is left unchanged.
 */
export function writeModel(model: ModelProto, dir: string, opts: { fileName?: string; externalData?: boolean } = {}): WrittenModel {
  const fileName = opts.fileName ?? MODEL_FILE;
  const tensors = [...allTensors(model.graph!)];
  const total = tensors.reduce((s, t) => s + tensorBytes(t), 0);
  const external = opts.externalData || total > INLINE_LIMIT_BYTES;
  const files: string[] = [];
  let bytes = 0;
  const restore: (() => void)[] = [];
  try {
    if (external) {
      const dataName = `${fileName}.data`;
      const fd = openSync(join(dir, dataName), 'w');
      let offset = 0;
      try {
        for (const t of tensors) {
          if (!t.rawData || t.rawData.byteLength < EXTERNAL_MIN_BYTES) continue;
          const raw = t.rawData;
          // Large tensors start on a 4 KiB page (onnxruntime can memory-map them), small ones on 64 bytes.
          const align = raw.byteLength >= 1 << 20 ? 4096 : 64;
          const aligned = Math.ceil(offset / align) * align;
          let done = 0;
          while (done < raw.byteLength) done += writeSyncAll(fd, raw, done, aligned + done);
          offset = aligned + raw.byteLength;
          const prev = { rawData: t.rawData, dataLocation: t.dataLocation, externalData: t.externalData };
          t.rawData = new Uint8Array(0);
          t.dataLocation = EXTERNAL;
          t.externalData = [
            { key: 'location', value: dataName },
            { key: 'offset', value: String(aligned) },
            { key: 'length', value: String(raw.byteLength) },
          ];
          restore.push(() => Object.assign(t, prev));
        }
      } finally {
        closeSync(fd);
      }
      files.push(dataName);
      bytes += offset;
    }
    const encoded = onnx.ModelProto.encode(model).finish();
    writeFileSync(join(dir, fileName), encoded);
    files.push(fileName);
    bytes += encoded.byteLength;
  } finally {
    for (const r of restore) r();
  }
  return { files, bytes };
}

function writeSyncAll(fd: number, buf: Uint8Array, from: number, position: number): number {
  return writeSync(fd, buf, from, buf.byteLength - from, position);
}
