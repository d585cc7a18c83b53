// FP16 conversion for GPU execution providers: float initializers and float intermediates become FLOAT16 for
// the ops listed in FP16_OPS; graph inputs and outputs stay FLOAT (a Cast at each edge), so callers see no
// change. Every other op, and in particular those in UNSAFE_FP16_OPS, keeps running in FLOAT: its inputs are
// cast back. A node whose input types cannot be known without shape inference is left exactly as it was.
import { DT, floatsOf, rawTensor, type ModelProto, type NodeProto, type TensorProto } from '../common/onnx-model.js';
import { cloneShallow } from './quantize-int8.js';
import { toHalf } from '../runtime/datatypes.js';

const HALF_MAX = 65504;

/** Ops converted to FP16, with the input positions that carry the float type (undefined: all of them). */
export const FP16_OPS: Record<string, number[] | undefined> = {
  Add: undefined, Sub: undefined, Mul: undefined, Div: undefined, Neg: undefined, Abs: undefined, Sqrt: undefined,
  Relu: undefined, LeakyRelu: undefined, Sigmoid: undefined, Tanh: undefined, Gelu: undefined, Erf: undefined,
  HardSigmoid: undefined, HardSwish: undefined, Elu: undefined, Selu: undefined, PRelu: undefined,
  MatMul: undefined, Gemm: undefined, Conv: undefined, ConvTranspose: undefined,
  BatchNormalization: undefined, InstanceNormalization: undefined, LayerNormalization: [0, 1, 2],
  MaxPool: [0], AveragePool: [0], GlobalAveragePool: [0], GlobalMaxPool: [0],
  Softmax: [0], Concat: undefined, Sum: undefined, Max: undefined, Min: undefined, Clip: [0, 1, 2],
  Reshape: [0], Flatten: [0], Transpose: [0], Squeeze: [0], Unsqueeze: [0], Identity: [0], Dropout: [0],
  Gather: [0], Slice: [0], Split: [0], Expand: [0], Tile: [0], Pad: [0, 2], Where: [1, 2],
};

/**
 * Ops known to lose accuracy or range in FP16 (large sums, exponentials, index arithmetic) or to lack FP16
 * kernels: always kept in FLOAT. Any op not in FP16_OPS is kept in FLOAT as well; this list documents why.
 */
export const UNSAFE_FP16_OPS = [
  'Exp', 'Log', 'Pow', 'Reciprocal', 'ReduceSum', 'ReduceMean', 'ReduceSumSquare', 'ReduceLogSum', 'ReduceLogSumExp',
  'ReduceL1', 'ReduceL2', 'ReduceProd', 'CumSum', 'Range', 'TopK', 'NonMaxSuppression', 'RoiAlign', 'Resize', 'Upsample',
  'LogSoftmax', 'Softplus', 'Einsum', 'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike',
  'LSTM', 'GRU', 'RNN', 'If', 'Loop', 'Scan',
] as const;

const UNSAFE = new Set<string>(UNSAFE_FP16_OPS);
/** Outputs converted for multi-output ops (the rest, like Dropout's mask, keep their type). */
const FLOAT_OUTPUTS: Record<string, number[] | undefined> = { Split: undefined, LayerNormalization: [0], Dropout: [0], BatchNormalization: [0] };

type Kind = 'fp32' | 'fp16' | 'other' | 'unknown';

export interface Fp16Result {
  model: ModelProto;
  converted: number;
  keptFp32: { node: string; op: string; reason: string }[];
}

export function floatsToHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  // Weights beyond FP16's range saturate to its largest finite value rather than becoming infinite.
  for (let i = 0; i < values.length; i++) out[i] = toHalf(Math.max(-HALF_MAX, Math.min(HALF_MAX, values[i])));
  return out;
}

function hasSubgraph(n: NodeProto): boolean {
  return (n.attribute ?? []).some((a) => a.g || (a.graphs ?? []).length);
}

export function convertFp16(model: ModelProto): Fp16Result {
  const g = model.graph!;
  if ((g.node ?? []).some(hasSubgraph)) {
    throw Object.assign(new Error('FP16 conversion of models with control flow (If, Loop, Scan) is not supported'), { unsupported: true });
  }
  const kind = new Map<string, Kind>();
  const inits = new Map<string, TensorProto>((g.initializer ?? []).map((t) => [t.name!, t]));
  for (const t of inits.values()) kind.set(t.name!, t.dataType === DT.FLOAT ? 'fp32' : 'other');
  for (const v of g.input ?? []) {
    if (kind.has(v.name!)) continue;
    kind.set(v.name!, v.type?.tensorType?.elemType === DT.FLOAT ? 'fp32' : 'other');
  }
  const nodes: NodeProto[] = [];
  const newInits: TensorProto[] = [];
  const half = new Map<string, string>();
  const single = new Map<string, string>();
  const keptFp32: Fp16Result['keptFp32'] = [];
  let converted = 0;
  let seq = 0;

  const to16 = (name: string): string => {
    let n = half.get(name);
    if (n) return n;
    n = `${name}_fp16`;
    const init = inits.get(name);
    if (init) newInits.push(rawTensor(n, DT.FLOAT16, (init.dims ?? []).map(Number), floatsToHalf(floatsOf(init))));
    else nodes.push({ name: `cast_fp16_${seq++}`, opType: 'Cast', input: [name], output: [n], attribute: [{ name: 'to', type: 2, i: DT.FLOAT16 }] });
    half.set(name, n);
    kind.set(n, 'fp16');
    return n;
  };
  const to32 = (name: string): string => {
    let n = single.get(name);
    if (n) return n;
    n = `${name}_fp32`;
    nodes.push({ name: `cast_fp32_${seq++}`, opType: 'Cast', input: [name], output: [n], attribute: [{ name: 'to', type: 2, i: DT.FLOAT }] });
    single.set(name, n);
    kind.set(n, 'fp32');
    return n;
  };

  for (const n of g.node ?? []) {
    const op = n.opType ?? '';
    const inputs = [...(n.input ?? [])];
    const positions = FP16_OPS[op];
    const floatPositions = positions ?? inputs.map((_, i) => i);
    const candidate = (!n.domain || n.domain === 'ai.onnx') && op in FP16_OPS && !UNSAFE.has(op);
    const floatKinds = floatPositions.filter((i) => inputs[i]).map((i) => kind.get(inputs[i]) ?? 'unknown');
    const convertible = candidate && floatKinds.length > 0 && floatKinds.every((k) => k === 'fp32' || k === 'fp16');
    if (convertible) {
      for (const i of floatPositions) if (inputs[i] && kind.get(inputs[i]) === 'fp32') inputs[i] = to16(inputs[i]);
      const outs = FLOAT_OUTPUTS[op] ?? (n.output ?? []).map((_, i) => i);
      (n.output ?? []).forEach((o, i) => kind.set(o, outs.includes(i) ? 'fp16' : 'other'));
      nodes.push({ ...n, input: inputs });
      converted++;
      continue;
    }
    // Kept as it was: every input gets back the type it had.
    for (let i = 0; i < inputs.length; i++) if (inputs[i] && kind.get(inputs[i]) === 'fp16') inputs[i] = to32(inputs[i]);
    const reason = UNSAFE.has(op) ? 'unsafe in FP16' : !(op in FP16_OPS) ? 'not in the FP16 op list' : 'input types unknown without shape inference';
    if (op !== 'Cast' && op !== 'Constant' && op !== 'Shape') keptFp32.push({ node: n.name || op, op, reason });
    let outKind: Kind = 'unknown';
    if (op === 'Constant') outKind = (n.attribute ?? []).find((a) => a.name === 'value')?.t?.dataType === DT.FLOAT ? 'fp32' : 'other';
    else if (op === 'Cast') outKind = Number((n.attribute ?? []).find((a) => a.name === 'to')?.i ?? 0) === DT.FLOAT ? 'fp32' : 'other';
    else if (op === 'Shape' || op === 'Size') outKind = 'other';
    else if (UNSAFE.has(op) || !(op in FP16_OPS)) {
      // A float op kept in FLOAT has FLOAT outputs when every input of it was FLOAT.
      const ins = inputs.filter(Boolean).map((x) => kind.get(x) ?? 'unknown');
      outKind = ins.length > 0 && ins.every((k) => k === 'fp32') ? 'fp32' : 'unknown';
    }
    for (const o of n.output ?? []) kind.set(o, outKind);
    nodes.push({ ...n, input: inputs });
  }

  // Graph outputs stay FLOAT: the producer writes <name>_fp16 and a Cast restores <name>.
  const renames = new Map<string, string>();
  for (const v of g.output ?? []) {
    if (v.type?.tensorType?.elemType === DT.FLOAT && kind.get(v.name!) === 'fp16') renames.set(v.name!, `${v.name}_out_fp16`);
  }
  const rename = (x: string) => renames.get(x) ?? x;
  const finalNodes = nodes.map((n) => ({ ...n, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) }));
  for (const [orig, tmp] of renames) {
    finalNodes.push({ name: `cast_out_${seq++}`, opType: 'Cast', input: [tmp], output: [orig], attribute: [{ name: 'to', type: 2, i: DT.FLOAT }] });
  }
  // Float initializers nobody reads any more (all readers now take the FP16 copy) are dropped.
  const used = new Set(finalNodes.flatMap((n) => n.input ?? []));
  for (const v of g.output ?? []) used.add(v.name!);
  const out = cloneShallow(model);
  out.graph!.node = finalNodes;
  out.graph!.initializer = [...(g.initializer ?? []).filter((t) => used.has(t.name!) || (g.input ?? []).some((i) => i.name === t.name)), ...newInits];
  out.graph!.valueInfo = [];
  return { model: out, converted, keptFp32 };
}
