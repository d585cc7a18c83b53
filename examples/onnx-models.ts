// Builds small, real ONNX models in code (protobuf ModelProto via onnx-proto), for the examples,
// the tests and the benchmarks. Nothing here is downloaded.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { randomFloats } from '../common/seeded-random.js';

export { randomFloats };

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

export type ElemType = keyof typeof T;
type Dim = number | string;

export interface ValueSpec {
  name: string;
  type: ElemType;
  shape: Dim[];
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, number | number[] | string>;
}

export interface InitializerSpec {
  name: string;
  dims: number[];
  /** FLOAT values, or INT64 ones (shape arguments, indices). */
  data: Float32Array | BigInt64Array;
  /** Stored in this external-data file (relative to the model) instead of inside the ModelProto. */
  external?: { location: string; offset: number };
}

export interface GraphSpec {
  name: string;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  nodes: NodeSpec[];
  initializers?: InitializerSpec[];
  opset?: number;
}

function valueInfo(v: ValueSpec): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: T[v.type],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: number | number[] | string): onnxProto.onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if (Number.isInteger(value)) return { name, type: A.INT, i: value };
  return { name, type: A.FLOAT, f: value };
}

function initializer(init: InitializerSpec): onnxProto.onnx.ITensorProto {
  const bytes = new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength);
  const dataType = init.data instanceof BigInt64Array ? T.INT64 : T.FLOAT;
  if (!init.external) return { name: init.name, dims: init.dims, dataType, rawData: bytes };
  return {
    name: init.name,
    dims: init.dims,
    dataType,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: init.external.location },
      { key: 'offset', value: String(init.external.offset) },
      { key: 'length', value: String(bytes.byteLength) },
    ],
  };
}

/** Encodes a graph as ONNX ModelProto bytes. */
export function encodeModel(g: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'modelplane-examples',
    opsetImport: [{ domain: '', version: g.opset ?? 17 }],
    graph: {
      name: g.name,
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
      initializer: (g.initializers ?? []).map(initializer),
      node: g.nodes.map((n, i) => ({
        name: `${n.op.toLowerCase()}_${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
      })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Triton's "simple" model: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1, FP32 [batch, width]. */
export function simpleModel(width = 16, batch: Dim = 'batch'): GraphSpec {
  return {
    name: 'simple',
    inputs: [
      { name: 'INPUT0', type: 'FLOAT', shape: [batch, width] },
      { name: 'INPUT1', type: 'FLOAT', shape: [batch, width] },
    ],
    outputs: [
      { name: 'OUTPUT0', type: 'FLOAT', shape: [batch, width] },
      { name: 'OUTPUT1', type: 'FLOAT', shape: [batch, width] },
    ],
    nodes: [
      { op: 'Add', inputs: ['INPUT0', 'INPUT1'], outputs: ['OUTPUT0'] },
      { op: 'Sub', inputs: ['INPUT0', 'INPUT1'], outputs: ['OUTPUT1'] },
    ],
  };
}

/** A multi-layer perceptron: `layers` x (MatMul width x width, Add bias, Relu). Memory-bound at batch 1. */
export function mlpModel(width: number, layers: number, opts: { externalFile?: string } = {}): GraphSpec {
  const nodes: NodeSpec[] = [];
  const initializers: InitializerSpec[] = [];
  let offset = 0;
  let x = 'input';
  for (let l = 0; l < layers; l++) {
    const w = randomFloats(width * width, 1000 + l, 1 / Math.sqrt(width));
    const b = randomFloats(width, 2000 + l, 0.01);
    for (const [name, dims, data] of [
      [`w${l}`, [width, width], w],
      [`b${l}`, [width], b],
    ] as const) {
      const external = opts.externalFile ? { location: opts.externalFile, offset } : undefined;
      initializers.push({ name, dims: [...dims], data, external });
      offset += data.byteLength;
    }
    const out = l === layers - 1 ? 'output' : `h${l}`;
    nodes.push({ op: 'MatMul', inputs: [x, `w${l}`], outputs: [`mm${l}`] });
    nodes.push({ op: 'Add', inputs: [`mm${l}`, `b${l}`], outputs: [`pre${l}`] });
    nodes.push({ op: 'Relu', inputs: [`pre${l}`], outputs: [out] });
    x = out;
  }
  return {
    name: 'mlp',
    inputs: [{ name: 'input', type: 'FLOAT', shape: ['batch', width] }],
    outputs: [{ name: 'output', type: 'FLOAT', shape: ['batch', width] }],
    nodes,
    initializers,
  };
}

/** The bytes of every external initializer of a graph, laid out as `mlpModel(..., {externalFile})` expects. */
export function externalData(g: GraphSpec): Uint8Array {
  const parts = (g.initializers ?? []).filter((i) => i.external);
  const total = parts.reduce((n, p) => n + p.data.byteLength, 0);
  const out = new Uint8Array(total);
  for (const p of parts) out.set(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength), p.external!.offset);
  return out;
}

/** An image classifier head: [batch,3,224,224] -> Conv 3x3/2 (8 ch) -> Relu -> GlobalAveragePool -> [batch,8]. */
export function imageModel(): GraphSpec {
  return {
    name: 'image',
    inputs: [{ name: 'image', type: 'FLOAT', shape: ['batch', 3, 224, 224] }],
    outputs: [{ name: 'features', type: 'FLOAT', shape: ['batch', 8] }],
    nodes: [
      { op: 'Conv', inputs: ['image', 'kernel'], outputs: ['conv'], attributes: { strides: [2, 2], pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['conv'], outputs: ['act'] },
      { op: 'GlobalAveragePool', inputs: ['act'], outputs: ['pooled'] },
      { op: 'Flatten', inputs: ['pooled'], outputs: ['features'], attributes: { axis: 1 } },
    ],
    initializers: [{ name: 'kernel', dims: [8, 3, 3, 3], data: randomFloats(8 * 27, 7, 0.2) }],
  };
}

/** Every tensor type onnxruntime-node can exchange, each passed through Identity: in_<TYPE> -> out_<TYPE>. */
export const IDENTITY_TYPES: ElemType[] = [
  'FLOAT', 'FLOAT16', 'DOUBLE', 'UINT8', 'UINT16', 'UINT32', 'UINT64',
  'INT8', 'INT16', 'INT32', 'INT64', 'BOOL', 'STRING',
];

export function identityTypesModel(): GraphSpec {
  return {
    name: 'types',
    inputs: IDENTITY_TYPES.map((t) => ({ name: `in_${t}`, type: t, shape: ['batch', 'n'] })),
    outputs: IDENTITY_TYPES.map((t) => ({ name: `out_${t}`, type: t, shape: ['batch', 'n'] })),
    nodes: IDENTITY_TYPES.map((t) => ({ op: 'Identity', inputs: [`in_${t}`], outputs: [`out_${t}`] })),
  };
}

/** A model whose batch dimension is fixed: the runtime refuses to batch it. */
export function fixedBatchModel(): GraphSpec {
  return {
    name: 'fixed',
    inputs: [{ name: 'x', type: 'FLOAT', shape: [1, 4] }],
    outputs: [{ name: 'y', type: 'FLOAT', shape: [1, 4] }],
    nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
  };
}

/** Writes a model file; with external data, a directory holding model.onnx and its data file. */
export function writeModel(path: string, g: GraphSpec): string {
  const ext = (g.initializers ?? []).find((i) => i.external);
  if (!ext) {
    writeFileSync(path, encodeModel(g));
    return path;
  }
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'model.onnx'), encodeModel(g));
  writeFileSync(join(path, ext.external!.location), externalData(g));
  return path;
}

/**
 * A convolutional network on [batch,3,224,224] images, about 1 GMAC per image (between MobileNetV2's 0.3 and
 * ResNet-18's 1.8): 3x3 convolutions 3->32 (stride 2), 32->64, 64->128 (stride 2), 128->128, each with Relu, then
 * global average pooling to [batch,128]. It stands in for a real vision model's compute.
 */
export function convNetModel(): GraphSpec {
  return convStack('convnet', [224, 224], [[3, 32, 2], [32, 64, 1], [64, 128, 2], [128, 128, 1]], 11);
}

/**
 * 3x3 convolutions (input channels, output channels, stride; padding 1), each followed by Relu, then global
 * average pooling and Flatten to [batch, last channels]. Weights are He-scaled random values from `seed` up.
 */
function convStack(name: string, [height, width]: [number, number], layers: [number, number, number][], seed: number): GraphSpec {
  const nodes: NodeSpec[] = [];
  let x = 'image';
  layers.forEach(([, , stride], i) => {
    nodes.push({ op: 'Conv', inputs: [x, `k${i + 1}`], outputs: [`c${i}`], attributes: { strides: [stride, stride], pads: [1, 1, 1, 1] } });
    nodes.push({ op: 'Relu', inputs: [`c${i}`], outputs: [`a${i}`] });
    x = `a${i}`;
  });
  nodes.push({ op: 'GlobalAveragePool', inputs: [x], outputs: ['pooled'] });
  nodes.push({ op: 'Flatten', inputs: ['pooled'], outputs: ['features'], attributes: { axis: 1 } });
  return {
    name,
    inputs: [{ name: 'image', type: 'FLOAT', shape: ['batch', 3, height, width] }],
    outputs: [{ name: 'features', type: 'FLOAT', shape: ['batch', layers[layers.length - 1][1]] }],
    nodes,
    initializers: layers.map(([cin, cout], i) => ({ name: `k${i + 1}`, dims: [cout, cin, 3, 3], data: randomFloats(cout * cin * 9, seed + i, Math.sqrt(2 / (cin * 9))) })),
  };
}

/**
 * A model whose first axis is a sequence, not a batch: OUT = IN - mean(IN, axis 0), IN [n,4]. Every row of the
 * answer depends on every row sent, so concatenating two callers' rows would mix their answers.
 */
export function sequenceCenteringModel(): GraphSpec {
  return centering('sequence', 0);
}

/** The same computation per row, a true batch model: OUT = IN - mean(IN, axis 1), IN [batch,4]. */
export function rowCenteringModel(): GraphSpec {
  return centering('rows', 1);
}

function centering(name: string, axis: number): GraphSpec {
  return {
    name,
    inputs: [{ name: 'IN', type: 'FLOAT', shape: [axis === 0 ? 'n' : 'batch', 4] }],
    outputs: [{ name: 'OUT', type: 'FLOAT', shape: [axis === 0 ? 'n' : 'batch', 4] }],
    nodes: [
      { op: 'ReduceMean', inputs: ['IN'], outputs: ['mean'], attributes: { axes: [axis], keepdims: 1 } },
      { op: 'Sub', inputs: ['IN', 'mean'], outputs: ['OUT'] },
    ],
  };
}

/**
 * A small CNN on [batch,3,48,192] images (a text-line or licence-plate crop): 3x3 convolutions 3->16 and 16->32,
 * both stride 2, each with Relu, then global average pooling to [batch,32]. A request is 110 KB of FP32.
 */
export function smallCnnModel(): GraphSpec {
  return convStack('small-cnn', [48, 192], [[3, 16, 2], [16, 32, 2]], 31);
}

/**
 * A model that refuses a warm-up on zeros with its symbolic dimension set to 1: `y = reflect-pad(x)` by 3 on each
 * side of the last axis, x [batch, n] FLOAT. Reflect padding needs more samples than the padding (n >= 4), as an
 * STFT front end's does.
 */
export function reflectPadModel(pad = 3): GraphSpec {
  return {
    name: 'reflect-pad',
    inputs: [{ name: 'x', type: 'FLOAT', shape: ['batch', 'n'] }],
    outputs: [{ name: 'y', type: 'FLOAT', shape: ['batch', 'm'] }],
    nodes: [{ op: 'Pad', inputs: ['x', 'pads'], outputs: ['y'], attributes: { mode: 'reflect' } }],
    initializers: [{ name: 'pads', dims: [4], data: BigInt64Array.from([0n, BigInt(pad), 0n, BigInt(pad)]) }],
  };
}

/**
 * A model with an INT64 scalar input that must be 8000 or 16000, as a speech model's sample rate: any other value
 * (0 included, what a warm-up on zeros feeds) fails in a Reshape whose target shape comes from it. With k = rate / 8000
 * and r = rate % 8000: two values are reshaped to [k, 3 - k] (two elements only for k = 1 or 2) and one value to
 * [r + 1] (one element only for r = 0). `audio` [n] FLOAT comes back scaled by 0.5 at 8000 and 1.0 at 16000.
 */
export function sampleRateModel(): GraphSpec {
  const i64 = (name: string, values: bigint[], dims: number[] = []) => ({ name, dims, data: BigInt64Array.from(values) });
  return {
    name: 'sample-rate',
    inputs: [{ name: 'audio', type: 'FLOAT', shape: ['n'] }, { name: 'sample_rate', type: 'INT64', shape: [] }],
    outputs: [{ name: 'scaled', type: 'FLOAT', shape: ['n'] }],
    nodes: [
      { op: 'Div', inputs: ['sample_rate', 'step'], outputs: ['k'] },
      { op: 'Mod', inputs: ['sample_rate', 'step'], outputs: ['r'] },
      { op: 'Sub', inputs: ['three', 'k'], outputs: ['rest'] },
      { op: 'Unsqueeze', inputs: ['k', 'axis0'], outputs: ['k1'] },
      { op: 'Unsqueeze', inputs: ['rest', 'axis0'], outputs: ['rest1'] },
      { op: 'Concat', inputs: ['k1', 'rest1'], outputs: ['pair_shape'], attributes: { axis: 0 } },
      { op: 'Reshape', inputs: ['pair', 'pair_shape'], outputs: ['pair_reshaped'] },
      { op: 'Add', inputs: ['r', 'one'], outputs: ['r1'] },
      { op: 'Unsqueeze', inputs: ['r1', 'axis0'], outputs: ['unit_shape'] },
      { op: 'Reshape', inputs: ['unit', 'unit_shape'], outputs: ['unit_reshaped'] },
      { op: 'Sub', inputs: ['k', 'one'], outputs: ['index'] },
      { op: 'Gather', inputs: ['scales', 'index'], outputs: ['scale'], attributes: { axis: 0 } },
      { op: 'ReduceSum', inputs: ['pair_reshaped'], outputs: ['two'], attributes: { keepdims: 0 } },
      { op: 'ReduceSum', inputs: ['unit_reshaped'], outputs: ['one_f'], attributes: { keepdims: 0 } },
      { op: 'Mul', inputs: ['two', 'one_f'], outputs: ['checked'] },
      { op: 'Mul', inputs: ['scale', 'checked'], outputs: ['factor'] },
      { op: 'Mul', inputs: ['audio', 'factor'], outputs: ['doubled'] },
      { op: 'Div', inputs: ['doubled', 'two_f'], outputs: ['scaled'] },
    ],
    initializers: [
      i64('step', [8000n]), i64('three', [3n]), i64('one', [1n]), i64('axis0', [0n], [1]),
      { name: 'pair', dims: [2], data: Float32Array.from([1, 1]) },
      { name: 'unit', dims: [1], data: Float32Array.from([1]) },
      { name: 'scales', dims: [2], data: Float32Array.from([0.5, 1]) },
      { name: 'two_f', dims: [], data: Float32Array.from([2]) },
    ],
  };
}
