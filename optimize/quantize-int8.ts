// int8 dynamic quantisation of MatMul and Gemm weights: each constant weight matrix becomes int8 with one
// symmetric scale per output channel; activations are quantised at run time. The form written is the one
// onnxruntime's CPU kernels run fastest: com.microsoft DynamicQuantizeMatMul (u8 x s8 GEMM with the scales and
// the bias applied inside the kernel). Biases and small tensors stay float. Pure: a ModelProto in, a new one out.
import { DT, onnx, defaultOpset, dimsOf, elementCount, floatsOf, num, rawTensor, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../common/onnx-model.js';

/** Weights with fewer elements than this stay float: quantising them saves little and costs accuracy. */
export const MIN_WEIGHT_ELEMENTS = 4096;
/** Ops that carry weights but have no int8 form here: listed in the report when met. */
const FLOAT_ONLY_WEIGHT_OPS = new Set(['ConvTranspose', 'LSTM', 'GRU', 'RNN', 'Einsum', 'Attention', 'MultiHeadAttention']);

export const MS_DOMAIN = 'com.microsoft';

/** Why a node was left in float: the optimiser decides on this, the report shows the reason text. */
export type SkipWhy =
  | 'NotAsked' // Conv without QuantizeOptions.conv
  | 'OpsetTooLow' // ConvInteger needs opset 11
  | 'NoInt8Form'
  | 'WeightNotConstant'
  | 'WeightNotFloat'
  | 'WeightRank'
  | 'WeightTooSmall'
  | 'WeightShared'
  | 'BiasNotConstant'
  | 'GemmForm'; // transA, alpha or beta

export interface SkippedOp {
  node: string;
  op: string;
  reason: string;
  why: SkipWhy;
}

export interface QuantizeResult {
  model: ModelProto;
  quantized: { node: string; op: string; weight: string; shape: number[] }[];
  skipped: SkippedOp[];
}

export interface QuantizeOptions {
  /**
   * Also quantise Conv weights (ConvInteger with uint8 weights, zero point 128, and per-channel scales applied after).
   * onnxruntime has no fused dynamic int8 convolution, so this is faster only on some models: the caller measures.
   */
  conv?: boolean;
  /** Quantise weights to 7 bits ([-63, 63]) so u8 x s8 products cannot saturate on CPUs without VNNI. */
  reduceRange?: boolean;
}

/** Per-output-channel symmetric int8: `w [K, N]` (column n is output channel n) to int8 values and N scales. */
export function quantizeWeights(w: Float32Array, k: number, n: number, reduceRange = false): { q: Int8Array; scales: Float32Array } {
  const qmax = reduceRange ? 63 : 127;
  const scales = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    let m = 0;
    for (let r = 0; r < k; r++) m = Math.max(m, Math.abs(w[r * n + c]));
    scales[c] = m > 0 ? m / qmax : 1;
  }
  const q = new Int8Array(k * n);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      const v = Math.round(w[r * n + c] / scales[c]);
      q[r * n + c] = v > qmax ? qmax : v < -qmax ? -qmax : v;
    }
  }
  return { q, scales };
}

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

function attr(n: NodeProto, name: string): AttributeProto | undefined {
  return (n.attribute ?? []).find((a) => a.name === name);
}

function attrInt(n: NodeProto, name: string, fallback: number): number {
  const a = attr(n, name);
  return a ? num(a.i as number) : fallback;
}

function attrFloat(n: NodeProto, name: string, fallback: number): number {
  const a = attr(n, name);
  return a ? (a.f ?? fallback) : fallback;
}

/** The model with its MatMul and Gemm weights (and Conv ones, when asked) in int8; each node left in float is listed with why. */
export function quantizeInt8(model: ModelProto, opts: QuantizeOptions = {}): QuantizeResult {
  const facts = graphFacts(model);
  const rewrite = new Int8Rewrite(facts, opts);
  for (const n of model.graph!.node ?? []) rewrite.visit(n);
  return { model: rewrittenModel(model, facts, rewrite), quantized: rewrite.quantized, skipped: rewrite.skipped };
}

/** What the rewrite needs to know of the graph: its constants, and which of them may be changed. */
interface GraphFacts {
  /** Initializers, and the tensors of Constant nodes, by name. */
  inits: Map<string, TensorProto>;
  /** The Constant nodes whose tensors are in `inits`. */
  constantNodes: Map<string, NodeProto>;
  /** How many readers each name has (graph outputs count as readers). */
  uses: Map<string, number>;
  /** Initializers a caller may override: not constants. */
  graphInputs: Set<string>;
  opset: number;
}

function graphFacts(model: ModelProto): GraphFacts {
  const graph = model.graph!;
  const inits = new Map<string, TensorProto>((graph.initializer ?? []).map((t) => [t.name!, t]));
  // A weight shared by several nodes, or also a graph input (overridable), must stay as it is.
  const uses = new Map<string, number>();
  countUses(graph, uses);
  for (const o of graph.output ?? []) uses.set(o.name!, (uses.get(o.name!) ?? 0) + 1);
  // From IR version 4 on, an initializer that is also a graph input is a default the caller may override: not a
  // constant. Before it, every initializer had to be listed as an input, and is a constant.
  const overridable = num(model.irVersion as number) >= 4;
  const graphInputs = new Set(overridable ? (graph.input ?? []).map((v) => v.name!) : []);
  const opset = defaultOpset(model);
  // Weights exporters store as Constant nodes (value = a tensor) count as constants too.
  const constantNodes = new Map<string, NodeProto>();
  for (const n of graph.node ?? []) {
    const value = n.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx') ? (n.attribute ?? []).find((a) => a.name === 'value')?.t : undefined;
    if (value && n.output?.[0] && !inits.has(n.output[0])) {
      inits.set(n.output[0], { ...value, name: n.output[0] });
      constantNodes.set(n.output[0], n);
    }
  }
  return { inits, constantNodes, uses, graphInputs, opset };
}

/** A node left in float, and why. */
interface Refusal {
  why: SkipWhy;
  reason: string;
}

/** Why the weight `name` cannot be quantised; undefined when it can. The rank a weight needs differs by op. */
function weightRefusal(name: string, w: TensorProto | undefined, facts: GraphFacts, rankRefusal: (rank: number) => string | undefined): Refusal | undefined {
  if (!w || facts.graphInputs.has(name)) return { why: 'WeightNotConstant', reason: 'weight is not a constant initializer (computed at run time)' };
  if (w.dataType !== DT.FLOAT) return { why: 'WeightNotFloat', reason: `weight is ${DT[w.dataType ?? 0]}, not FLOAT` };
  const dims = dimsOf(w);
  const rank = rankRefusal(dims.length);
  if (rank) return { why: 'WeightRank', reason: rank };
  if (elementCount(dims) < MIN_WEIGHT_ELEMENTS) return { why: 'WeightTooSmall', reason: `weight has ${elementCount(dims)} elements, fewer than ${MIN_WEIGHT_ELEMENTS}: kept in float` };
  if ((facts.uses.get(name) ?? 0) > 1) return { why: 'WeightShared', reason: 'weight is shared with another node' };
  return undefined;
}

/** A Conv that can take the ConvInteger form: its activation, its weight and its bias. */
interface ConvPlan {
  x: string;
  wName: string;
  dims: number[];
  values: Float32Array;
  bName: string;
  bias?: TensorProto;
}

/** The ConvInteger form of a Conv, or why it stays in float. */
function convPlan(n: NodeProto, opts: QuantizeOptions, facts: GraphFacts): ConvPlan | { refusal: Refusal } {
  if (!opts.conv) return { refusal: { why: 'NotAsked', reason: 'Conv kept in float: ConvInteger was not asked for' } };
  if (facts.opset < 11) {
    return { refusal: { why: 'OpsetTooLow', reason: `Conv kept in float: ConvInteger needs DynamicQuantizeLinear (opset 11), the model has opset ${facts.opset}` } };
  }
  const [x, wName, bName] = n.input ?? [];
  const w = facts.inits.get(wName);
  const refusal = weightRefusal(wName, w, facts, (rank) => (rank < 3 ? `weight has rank ${rank}` : undefined));
  if (refusal) return { refusal };
  let bias: TensorProto | undefined;
  if (bName) {
    bias = facts.inits.get(bName);
    if (!bias || bias.dataType !== DT.FLOAT || facts.graphInputs.has(bName)) return { refusal: { why: 'BiasNotConstant', reason: 'bias is not a constant FLOAT vector' } };
  }
  return { x, wName, dims: dimsOf(w!), values: floatsOf(w!), bName, bias };
}

/** A MatMul or Gemm that can take the DynamicQuantizeMatMul form: its weight as [k, cols], and its bias. */
interface MatMulPlan {
  a: string;
  b: string;
  values: Float32Array;
  k: number;
  cols: number;
  bias?: string;
}

/** The DynamicQuantizeMatMul form of a MatMul or Gemm, or why it stays in float. */
function matMulPlan(n: NodeProto, op: string, facts: GraphFacts): MatMulPlan | { refusal: Refusal } {
  const [a, b, c] = n.input ?? [];
  const w = b ? facts.inits.get(b) : undefined;
  const refusal = weightRefusal(b, w, facts, (rank) => (rank !== 2 ? `weight has rank ${rank}, not 2` : undefined));
  if (refusal) return { refusal };
  const dims = dimsOf(w!);
  const values = floatsOf(w!);
  const [k, cols] = dims;
  if (op !== 'Gemm') return { a, b, values, k, cols };
  if (attrInt(n, 'transA', 0) !== 0) return { refusal: { why: 'GemmForm', reason: 'Gemm with transA=1' } };
  if (attrFloat(n, 'alpha', 1) !== 1 || (c && attrFloat(n, 'beta', 1) !== 1)) return { refusal: { why: 'GemmForm', reason: 'Gemm with alpha or beta other than 1' } };
  const plan: MatMulPlan = attrInt(n, 'transB', 0) === 1 ? { a, b, values: transpose(values, dims[0], dims[1]), k: dims[1], cols: dims[0] } : { a, b, values, k, cols };
  if (!c) return plan;
  const ct = facts.inits.get(c);
  if (!ct || ct.dataType !== DT.FLOAT || dimsOf(ct).length !== 1 || dimsOf(ct)[0] !== plan.cols || facts.graphInputs.has(c)) {
    return { refusal: { why: 'BiasNotConstant', reason: 'Gemm bias is not a constant FLOAT vector of the output width' } };
  }
  return { ...plan, bias: c };
}

/** A Conv's [M, ...] weight as ConvInteger's uint8 (zero point 128), with one scale per output channel. */
function convWeightsUint8(values: Float32Array, m: number, k: number, reduceRange?: boolean): { wq: Uint8Array; scales: Float32Array } {
  // Weights are [M, K] here: output channel m is row m. quantizeWeights takes columns as channels.
  const { q, scales } = quantizeWeights(transpose(values, m, k), k, m, reduceRange);
  const wq = new Uint8Array(m * k);
  for (let r = 0; r < k; r++) for (let c = 0; c < m; c++) wq[c * k + r] = q[r * m + c] + 128;
  return { wq, scales };
}

const CONV_ATTRIBUTES = ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'];

/** The graph as it is rewritten, node by node in order: the nodes and initializers it gets, and the report's lists. */
class Int8Rewrite {
  readonly quantized: QuantizeResult['quantized'] = [];
  readonly skipped: SkippedOp[] = [];
  readonly newInits: TensorProto[] = [];
  /** Weights (initializers or Constant nodes) no longer read once their nodes are rewritten. */
  readonly dropped = new Set<string>();
  readonly nodes: NodeProto[] = [];
  private readonly quantizedInputs = new Map<string, [string, string, string]>();
  /** The 1-based position of the node being visited: the name of a node that has none. */
  private seq = 0;

  constructor(private readonly facts: GraphFacts, private readonly opts: QuantizeOptions) {}

  visit(n: NodeProto): void {
    this.seq++;
    const op = n.opType ?? '';
    if (n.domain && n.domain !== 'ai.onnx') {
      this.nodes.push(n);
    } else if (op === 'Conv') {
      const plan = convPlan(n, this.opts, this.facts);
      if ('refusal' in plan) this.keep(n, op, plan.refusal);
      else this.writeConvInteger(n, plan);
    } else if (FLOAT_ONLY_WEIGHT_OPS.has(op)) {
      this.keep(n, op, { why: 'NoInt8Form', reason: `${op} has no int8 form here; kept in float` });
    } else if (op === 'MatMul' || op === 'Gemm') {
      const plan = matMulPlan(n, op, this.facts);
      if ('refusal' in plan) this.keep(n, op, plan.refusal);
      else this.writeDynamicQuantizeMatMul(n, op, plan);
    } else {
      this.nodes.push(n);
    }
  }

  private nodeName(n: NodeProto): string {
    return n.name || `${n.opType}_${this.seq}`;
  }

  /** The node as it is, listed as skipped. */
  private keep(n: NodeProto, op: string, { why, reason }: Refusal): void {
    this.skipped.push({ node: this.nodeName(n), op, reason, why });
    this.nodes.push(n);
  }

  /** DynamicQuantizeLinear of an activation, shared by every Conv that reads it. */
  private quantizeActivation(x: string): [string, string, string] {
    let q = this.quantizedInputs.get(x);
    if (q) return q;
    const base = `${x.replace(/[^A-Za-z0-9_.-]/g, '_')}_dq`;
    q = [`${base}_u8`, `${base}_scale`, `${base}_zero_point`];
    this.nodes.push({ name: `${base}_quantize`, opType: 'DynamicQuantizeLinear', input: [x], output: q });
    this.quantizedInputs.set(x, q);
    return q;
  }

  /** A Conv as ConvInteger + Cast + rescale (+ bias). */
  private writeConvInteger(n: NodeProto, { x, wName, dims, values, bName, bias }: ConvPlan): void {
    const m = dims[0];
    const k = elementCount(dims) / m;
    const { wq, scales } = convWeightsUint8(values, m, k, this.opts.reduceRange);
    const base = wName.replace(/[^A-Za-z0-9_.-]/g, '_');
    const channelDims = [1, m, ...new Array(dims.length - 2).fill(1)];
    this.newInits.push(
      rawTensor(`${base}_uint8`, DT.UINT8, dims, wq),
      rawTensor(`${base}_zero_point`, DT.UINT8, [], new Uint8Array([128])),
      rawTensor(`${base}_scale`, DT.FLOAT, channelDims, scales),
    );
    if (bias) {
      this.newInits.push(rawTensor(`${base}_bias`, DT.FLOAT, channelDims, floatsOf(bias)));
      if ((this.facts.uses.get(bName) ?? 0) === 1) this.dropped.add(bName);
    }
    this.dropped.add(wName);
    const [xq, xs, xzp] = this.quantizeActivation(x);
    const name = this.nodeName(n);
    const out = n.output![0];
    const attributes = (n.attribute ?? []).filter((a) => CONV_ATTRIBUTES.includes(a.name ?? ''));
    this.nodes.push(
      { name: `${name}_int8`, opType: 'ConvInteger', input: [xq, `${base}_uint8`, xzp, `${base}_zero_point`], output: [`${out}_int32`], attribute: attributes },
      { name: `${name}_cast`, opType: 'Cast', input: [`${out}_int32`], output: [`${out}_float`], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DT.FLOAT }] },
      { name: `${name}_scale`, opType: 'Mul', input: [xs, `${base}_scale`], output: [`${out}_scale`] },
      { name: `${name}_rescale`, opType: 'Mul', input: [`${out}_float`, `${out}_scale`], output: [bias ? `${out}_nobias` : out] },
      ...(bias ? [{ name: `${name}_bias`, opType: 'Add', input: [`${out}_nobias`, `${base}_bias`], output: [out] }] : []),
    );
    this.quantized.push({ node: name, op: 'Conv', weight: wName, shape: dims });
  }

  /** A MatMul or Gemm as com.microsoft DynamicQuantizeMatMul with an int8 weight. */
  private writeDynamicQuantizeMatMul(n: NodeProto, op: string, { a, b, values, k, cols, bias }: MatMulPlan): void {
    const { q, scales } = quantizeWeights(values, k, cols, this.opts.reduceRange);
    const base = b.replace(/[^A-Za-z0-9_.-]/g, '_');
    const qName = `${base}_int8`;
    const sName = `${base}_scale`;
    const zName = `${base}_zero_point`;
    this.newInits.push(rawTensor(qName, DT.INT8, [k, cols], q), rawTensor(sName, DT.FLOAT, [cols], scales), rawTensor(zName, DT.INT8, [cols], new Int8Array(cols)));
    this.dropped.add(b);
    this.nodes.push({
      name: `${this.nodeName(n)}_int8`,
      opType: 'DynamicQuantizeMatMul',
      domain: MS_DOMAIN,
      input: [a, qName, sName, zName, ...(bias ? [bias] : [])],
      output: n.output,
    });
    this.quantized.push({ node: this.nodeName(n), op, weight: b, shape: [k, cols] });
  }
}

/** A copy of the model with the rewritten nodes, and without the weights no node reads any more. */
function rewrittenModel(model: ModelProto, facts: GraphFacts, rewrite: Int8Rewrite): ModelProto {
  const graph = model.graph!;
  const { dropped } = rewrite;
  const out = cloneShallow(model);
  out.graph!.node = rewrite.nodes.filter((n) => !(n.opType === 'Constant' && dropped.has(n.output?.[0] ?? '') && facts.constantNodes.get(n.output![0]) === n));
  out.graph!.initializer = [...(graph.initializer ?? []).filter((t) => !dropped.has(t.name!)), ...rewrite.newInits];
  out.graph!.input = (graph.input ?? []).filter((v) => !dropped.has(v.name!));
  if (rewrite.quantized.length) ensureOpset(out, MS_DOMAIN, 1);
  return out;
}

/** How many node inputs read each name, subgraphs (If, Loop, Scan bodies) included. */
function countUses(g: GraphProto, uses: Map<string, number>): void {
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
    for (const a of n.attribute ?? []) {
      if (a.g) countUses(a.g, uses);
      for (const sg of a.graphs ?? []) countUses(sg, uses);
    }
  }
}

/** A copy of the model whose graph node and initializer lists may be replaced without touching the original. */
export function cloneShallow(model: ModelProto): ModelProto {
  const copy = Object.assign(Object.create(Object.getPrototypeOf(model)), model) as ModelProto;
  copy.graph = Object.assign(Object.create(Object.getPrototypeOf(model.graph)), model.graph);
  copy.opsetImport = [...(model.opsetImport ?? [])];
  return copy;
}

export function ensureOpset(model: ModelProto, domain: string, version: number): void {
  if (!(model.opsetImport ?? []).some((o) => o.domain === domain)) model.opsetImport = [...(model.opsetImport ?? []), { domain, version }];
}
