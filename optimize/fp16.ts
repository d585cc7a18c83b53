// FP16 conversion for GPU execution providers: float initializers and float intermediates become FLOAT16 for
// the ops listed in FP16_OPS; graph inputs and outputs stay FLOAT (a Cast at each edge), so callers see no
// change. Every other op, and in particular those in UNSAFE_FP16_OPS, keeps running in FLOAT: its inputs are
// cast back. A node whose input types cannot be known without shape inference is left exactly as it was.
import { DT, floatsOf, rawTensor, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../common/onnx-model.js';
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

/** The model with float compute in FP16 where it is safe (see the head of this file); inputs and outputs stay FLOAT. */
export function convertFp16(model: ModelProto): Fp16Result {
  const g = model.graph!;
  if ((g.node ?? []).some(hasSubgraph)) {
    throw Object.assign(new Error('FP16 conversion of models with control flow (If, Loop, Scan) is not supported'), { unsupported: true });
  }
  const rewrite = new Fp16Rewrite(g);
  for (const n of g.node ?? []) rewrite.visit(n);
  const nodes = rewrite.withFloatOutputs(g.output ?? []);
  const out = cloneShallow(model);
  out.graph!.node = nodes;
  out.graph!.initializer = [...stillRead(g, nodes), ...rewrite.newInits];
  out.graph!.valueInfo = [];
  return { model: out, converted: rewrite.converted, keptFp32: rewrite.keptFp32 };
}

/** Whether a node runs in FP16: an op on the list whose float inputs are all known to be float. */
function convertible(n: NodeProto, op: string, inputs: string[], floatPositions: number[], kind: Map<string, Kind>): boolean {
  const candidate = (!n.domain || n.domain === 'ai.onnx') && op in FP16_OPS && !UNSAFE.has(op);
  if (!candidate) return false;
  const floatKinds = floatPositions.filter((i) => inputs[i]).map((i) => kind.get(inputs[i]) ?? 'unknown');
  return floatKinds.length > 0 && floatKinds.every((k) => k === 'fp32' || k === 'fp16');
}

function keptReason(op: string): string {
  return UNSAFE.has(op) ? 'unsafe in FP16' : !(op in FP16_OPS) ? 'not in the FP16 op list' : 'input types unknown without shape inference';
}

/** The kind of the outputs of a node kept as it was, from its (restored) inputs. */
function keptOutputKind(n: NodeProto, op: string, inputs: string[], kind: Map<string, Kind>): Kind {
  if (op === 'Constant') return (n.attribute ?? []).find((a) => a.name === 'value')?.t?.dataType === DT.FLOAT ? 'fp32' : 'other';
  if (op === 'Cast') return Number((n.attribute ?? []).find((a) => a.name === 'to')?.i ?? 0) === DT.FLOAT ? 'fp32' : 'other';
  if (op === 'Shape' || op === 'Size') return 'other';
  if (UNSAFE.has(op) || !(op in FP16_OPS)) {
    // A float op kept in FLOAT has FLOAT outputs when every input of it was FLOAT.
    const ins = inputs.filter(Boolean).map((x) => kind.get(x) ?? 'unknown');
    return ins.length > 0 && ins.every((k) => k === 'fp32') ? 'fp32' : 'unknown';
  }
  return 'unknown';
}

/** Float initializers nobody reads any more (all readers now take the FP16 copy) are dropped. */
function stillRead(g: GraphProto, nodes: NodeProto[]): TensorProto[] {
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  for (const v of g.output ?? []) used.add(v.name!);
  return (g.initializer ?? []).filter((t) => used.has(t.name!) || (g.input ?? []).some((i) => i.name === t.name));
}

/** The graph as it is converted, node by node in order: the kind of every value so far, and the casts and FP16 copies made. */
class Fp16Rewrite {
  readonly nodes: NodeProto[] = [];
  readonly newInits: TensorProto[] = [];
  readonly keptFp32: Fp16Result['keptFp32'] = [];
  converted = 0;
  private readonly kind = new Map<string, Kind>();
  private readonly inits: Map<string, TensorProto>;
  /** FP16 and FLOAT copies made so far, by the name copied: each is made once. */
  private readonly half = new Map<string, string>();
  private readonly single = new Map<string, string>();
  /** Numbers the Casts added, across the whole graph. */
  private seq = 0;

  constructor(g: GraphProto) {
    this.inits = new Map<string, TensorProto>((g.initializer ?? []).map((t) => [t.name!, t]));
    for (const t of this.inits.values()) this.kind.set(t.name!, t.dataType === DT.FLOAT ? 'fp32' : 'other');
    for (const v of g.input ?? []) {
      if (this.kind.has(v.name!)) continue;
      this.kind.set(v.name!, v.type?.tensorType?.elemType === DT.FLOAT ? 'fp32' : 'other');
    }
  }

  visit(n: NodeProto): void {
    const op = n.opType ?? '';
    const inputs = [...(n.input ?? [])];
    const floatPositions = FP16_OPS[op] ?? inputs.map((_, i) => i);
    if (convertible(n, op, inputs, floatPositions, this.kind)) this.convert(n, op, inputs, floatPositions);
    else this.keep(n, op, inputs);
  }

  /** The node in FP16: its FLOAT inputs read FP16 copies, its float outputs are FP16. */
  private convert(n: NodeProto, op: string, inputs: string[], floatPositions: number[]): void {
    for (const i of floatPositions) if (inputs[i] && this.kind.get(inputs[i]) === 'fp32') inputs[i] = this.to16(inputs[i]);
    const outs = FLOAT_OUTPUTS[op] ?? (n.output ?? []).map((_, i) => i);
    (n.output ?? []).forEach((o, i) => this.kind.set(o, outs.includes(i) ? 'fp16' : 'other'));
    this.nodes.push({ ...n, input: inputs });
    this.converted++;
  }

  /** The node as it was: every input gets back the type it had. */
  private keep(n: NodeProto, op: string, inputs: string[]): void {
    for (let i = 0; i < inputs.length; i++) if (inputs[i] && this.kind.get(inputs[i]) === 'fp16') inputs[i] = this.to32(inputs[i]);
    if (op !== 'Cast' && op !== 'Constant' && op !== 'Shape') this.keptFp32.push({ node: n.name || op, op, reason: keptReason(op) });
    const outKind = keptOutputKind(n, op, inputs, this.kind);
    for (const o of n.output ?? []) this.kind.set(o, outKind);
    this.nodes.push({ ...n, input: inputs });
  }

  /** An FP16 copy of a value: a converted initializer, or a Cast. */
  private to16(name: string): string {
    let n = this.half.get(name);
    if (n) return n;
    n = `${name}_fp16`;
    const init = this.inits.get(name);
    if (init) this.newInits.push(rawTensor(n, DT.FLOAT16, (init.dims ?? []).map(Number), floatsToHalf(floatsOf(init))));
    else this.nodes.push({ name: `cast_fp16_${this.seq++}`, opType: 'Cast', input: [name], output: [n], attribute: [{ name: 'to', type: 2, i: DT.FLOAT16 }] });
    this.half.set(name, n);
    this.kind.set(n, 'fp16');
    return n;
  }

  /** A FLOAT copy of an FP16 value, by a Cast. */
  private to32(name: string): string {
    let n = this.single.get(name);
    if (n) return n;
    n = `${name}_fp32`;
    this.nodes.push({ name: `cast_fp32_${this.seq++}`, opType: 'Cast', input: [name], output: [n], attribute: [{ name: 'to', type: 2, i: DT.FLOAT }] });
    this.single.set(name, n);
    this.kind.set(n, 'fp32');
    return n;
  }

  /** The nodes, with graph outputs kept FLOAT: the producer writes <name>_out_fp16 and a Cast restores <name>. */
  withFloatOutputs(outputs: ValueInfoProto[]): NodeProto[] {
    const renames = new Map<string, string>();
    for (const v of outputs) {
      if (v.type?.tensorType?.elemType === DT.FLOAT && this.kind.get(v.name!) === 'fp16') renames.set(v.name!, `${v.name}_out_fp16`);
    }
    const rename = (x: string) => renames.get(x) ?? x;
    const finalNodes = this.nodes.map((n) => ({ ...n, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) }));
    for (const [orig, tmp] of renames) {
      finalNodes.push({ name: `cast_out_${this.seq++}`, opType: 'Cast', input: [tmp], output: [orig], attribute: [{ name: 'to', type: 2, i: DT.FLOAT }] });
    }
    return finalNodes;
  }
}
