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

/** A node left in float, and why. */
interface Refusal {
  why: SkipWhy;
  reason: string;
}

export function quantizeInt8(model: ModelProto, opts: QuantizeOptions = {}): QuantizeResult {
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
  const quantized: QuantizeResult['quantized'] = [];
  const skipped: SkippedOp[] = [];
  const newInits: TensorProto[] = [];
  const dropped = new Set<string>();
  const nodes: NodeProto[] = [];
  let seq = 0;
  const nodeName = (n: NodeProto) => n.name || `${n.opType}_${seq}`;

  const quantizedInputs = new Map<string, [string, string, string]>();
  /** DynamicQuantizeLinear of an activation, shared by every Conv that reads it. */
  const quantizeActivation = (x: string): [string, string, string] => {
    let q = quantizedInputs.get(x);
    if (q) return q;
    const base = `${x.replace(/[^A-Za-z0-9_.-]/g, '_')}_dq`;
    q = [`${base}_u8`, `${base}_scale`, `${base}_zero_point`];
    nodes.push({ name: `${base}_quantize`, opType: 'DynamicQuantizeLinear', input: [x], output: q });
    quantizedInputs.set(x, q);
    return q;
  };
  /** Rewrites a Conv into ConvInteger + rescale (+ bias); returns why not when it cannot. */
  const quantizeConv = (n: NodeProto): Refusal | undefined => {
    const [x, wName, bName] = n.input ?? [];
    const w = inits.get(wName);
    if (!w || graphInputs.has(wName)) return { why: 'WeightNotConstant', reason: 'weight is not a constant initializer (computed at run time)' };
    if (w.dataType !== DT.FLOAT) return { why: 'WeightNotFloat', reason: `weight is ${DT[w.dataType ?? 0]}, not FLOAT` };
    const dims = dimsOf(w);
    if (dims.length < 3) return { why: 'WeightRank', reason: `weight has rank ${dims.length}` };
    if (elementCount(dims) < MIN_WEIGHT_ELEMENTS) return { why: 'WeightTooSmall', reason: `weight has ${elementCount(dims)} elements, fewer than ${MIN_WEIGHT_ELEMENTS}: kept in float` };
    if ((uses.get(wName) ?? 0) > 1) return { why: 'WeightShared', reason: 'weight is shared with another node' };
    const m = dims[0];
    const k = elementCount(dims) / m;
    let bias: TensorProto | undefined;
    if (bName) {
      bias = inits.get(bName);
      if (!bias || bias.dataType !== DT.FLOAT || graphInputs.has(bName)) return { why: 'BiasNotConstant', reason: 'bias is not a constant FLOAT vector' };
    }
    const rank = dims.length;
    // Weights are [M, K] here: output channel m is row m. quantizeWeights takes columns as channels.
    const values = floatsOf(w);
    const { q, scales } = quantizeWeights(transpose(values, m, k), k, m, opts.reduceRange);
    const wq = new Uint8Array(m * k);
    for (let r = 0; r < k; r++) for (let c = 0; c < m; c++) wq[c * k + r] = q[r * m + c] + 128;
    const base = wName.replace(/[^A-Za-z0-9_.-]/g, '_');
    const channelDims = [1, m, ...new Array(rank - 2).fill(1)];
    newInits.push(
      rawTensor(`${base}_uint8`, DT.UINT8, dims, wq),
      rawTensor(`${base}_zero_point`, DT.UINT8, [], new Uint8Array([128])),
      rawTensor(`${base}_scale`, DT.FLOAT, channelDims, scales),
    );
    if (bias) {
      newInits.push(rawTensor(`${base}_bias`, DT.FLOAT, channelDims, floatsOf(bias)));
      if ((uses.get(bName) ?? 0) === 1) dropped.add(bName);
    }
    dropped.add(wName);
    const [xq, xs, xzp] = quantizeActivation(x);
    const name = nodeName(n);
    const out = n.output![0];
    const attributes = (n.attribute ?? []).filter((a) => ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'].includes(a.name ?? ''));
    nodes.push(
      { name: `${name}_int8`, opType: 'ConvInteger', input: [xq, `${base}_uint8`, xzp, `${base}_zero_point`], output: [`${out}_int32`], attribute: attributes },
      { name: `${name}_cast`, opType: 'Cast', input: [`${out}_int32`], output: [`${out}_float`], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DT.FLOAT }] },
      { name: `${name}_scale`, opType: 'Mul', input: [xs, `${base}_scale`], output: [`${out}_scale`] },
      { name: `${name}_rescale`, opType: 'Mul', input: [`${out}_float`, `${out}_scale`], output: [bias ? `${out}_nobias` : out] },
      ...(bias ? [{ name: `${name}_bias`, opType: 'Add', input: [`${out}_nobias`, `${base}_bias`], output: [out] }] : []),
    );
    quantized.push({ node: name, op: 'Conv', weight: wName, shape: dims });
    return undefined;
  };

  for (const n of graph.node ?? []) {
    seq++;
    const op = n.opType ?? '';
    if (n.domain && n.domain !== 'ai.onnx') {
      nodes.push(n);
      continue;
    }
    if (op === 'Conv') {
      const refusal: Refusal | undefined = !opts.conv
        ? { why: 'NotAsked', reason: 'Conv kept in float: ConvInteger was not asked for' }
        : opset < 11
          ? { why: 'OpsetTooLow', reason: `Conv kept in float: ConvInteger needs DynamicQuantizeLinear (opset 11), the model has opset ${opset}` }
          : quantizeConv(n);
      if (refusal) {
        skipped.push({ node: nodeName(n), op, reason: refusal.reason, why: refusal.why });
        nodes.push(n);
      }
      continue;
    }
    if (FLOAT_ONLY_WEIGHT_OPS.has(op)) {
      skipped.push({ node: nodeName(n), op, reason: `${op} has no int8 form here; kept in float`, why: 'NoInt8Form' });
      nodes.push(n);
      continue;
    }
    if (op !== 'MatMul' && op !== 'Gemm') {
      nodes.push(n);
      continue;
    }
    const [a, b, c] = n.input ?? [];
    const skip = (why: SkipWhy, reason: string) => {
      skipped.push({ node: nodeName(n), op, reason, why });
      nodes.push(n);
    };
    const w = b ? inits.get(b) : undefined;
    if (!w || graphInputs.has(b)) {
      skip('WeightNotConstant', 'weight is not a constant initializer (computed at run time)');
      continue;
    }
    if (w.dataType !== DT.FLOAT) {
      skip('WeightNotFloat', `weight is ${DT[w.dataType ?? 0]}, not FLOAT`);
      continue;
    }
    const dims = dimsOf(w);
    if (dims.length !== 2) {
      skip('WeightRank', `weight has rank ${dims.length}, not 2`);
      continue;
    }
    if (elementCount(dims) < MIN_WEIGHT_ELEMENTS) {
      skip('WeightTooSmall', `weight has ${elementCount(dims)} elements, fewer than ${MIN_WEIGHT_ELEMENTS}: kept in float`);
      continue;
    }
    if ((uses.get(b) ?? 0) > 1) {
      skip('WeightShared', 'weight is shared with another node');
      continue;
    }
    let values = floatsOf(w);
    let [k, cols] = dims;
    let bias: string | undefined;
    if (op === 'Gemm') {
      if (attrInt(n, 'transA', 0) !== 0) {
        skip('GemmForm', 'Gemm with transA=1');
        continue;
      }
      if (attrFloat(n, 'alpha', 1) !== 1 || (c && attrFloat(n, 'beta', 1) !== 1)) {
        skip('GemmForm', 'Gemm with alpha or beta other than 1');
        continue;
      }
      if (attrInt(n, 'transB', 0) === 1) {
        values = transpose(values, dims[0], dims[1]);
        [k, cols] = [dims[1], dims[0]];
      }
      if (c) {
        const ct = inits.get(c);
        if (!ct || ct.dataType !== DT.FLOAT || dimsOf(ct).length !== 1 || dimsOf(ct)[0] !== cols || graphInputs.has(c)) {
          skip('BiasNotConstant', 'Gemm bias is not a constant FLOAT vector of the output width');
          continue;
        }
        bias = c;
      }
    }
    const { q, scales } = quantizeWeights(values, k, cols, opts.reduceRange);
    const base = b.replace(/[^A-Za-z0-9_.-]/g, '_');
    const qName = `${base}_int8`;
    const sName = `${base}_scale`;
    const zName = `${base}_zero_point`;
    newInits.push(rawTensor(qName, DT.INT8, [k, cols], q), rawTensor(sName, DT.FLOAT, [cols], scales), rawTensor(zName, DT.INT8, [cols], new Int8Array(cols)));
    dropped.add(b);
    nodes.push({
      name: `${nodeName(n)}_int8`,
      opType: 'DynamicQuantizeMatMul',
      domain: MS_DOMAIN,
      input: [a, qName, sName, zName, ...(bias ? [bias] : [])],
      output: n.output,
    });
    quantized.push({ node: nodeName(n), op, weight: b, shape: [k, cols] });
  }

  const out = cloneShallow(model);
  out.graph!.node = nodes.filter((n) => !(n.opType === 'Constant' && dropped.has(n.output?.[0] ?? '') && constantNodes.get(n.output![0]) === n));
  out.graph!.initializer = [...(graph.initializer ?? []).filter((t) => !dropped.has(t.name!)), ...newInits];
  out.graph!.input = (graph.input ?? []).filter((v) => !dropped.has(v.name!));
  if (quantized.length) ensureOpset(out, MS_DOMAIN, 1);
  return { model: out, quantized, skipped };
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
