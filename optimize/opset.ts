// Bringing a model below opset 11 to opset 11 before int8 quantisation, as onnxruntime's own quantiser does: the int8
// forms need DynamicQuantizeLinear (opset 11). Only the opset import changes, so it is done only when no op of the
// model means something else at opset 11 than at the model's opset; otherwise the model is refused, naming the op.
import { OptimizeError } from './errors.js';
import { defaultOpset, type GraphProto, type ModelProto, type NodeProto } from '../common/onnx-model.js';
import { cloneShallow } from './quantize-int8.js';

export const INT8_OPSET = 11;

/**
 * Default-domain ops that got a new version in opsets 8 to 11, and those versions (ONNX's operator changelog). Ops
 * that first appeared in these opsets are left out: a model of an older opset cannot hold them.
 */
const NEW_VERSIONS: Record<string, number[]> = {
  Max: [8], Mean: [8], Min: [8], Sum: [8], MaxPool: [8, 10, 11], BatchNormalization: [9], Cast: [9], Constant: [9, 11],
  Flatten: [9, 11], Gemm: [9, 11], Greater: [9], Less: [9], MatMul: [9], PRelu: [9], Scan: [9, 11], Upsample: [9, 10],
  AveragePool: [10, 11], Dropout: [10], Slice: [10, 11], TopK: [10, 11], ArgMax: [11], ArgMin: [11], Clip: [11],
  Concat: [11], Conv: [11], ConvTranspose: [11], DepthToSpace: [11], Equal: [11], Gather: [11], Hardmax: [11], If: [11],
  LogSoftmax: [11], Loop: [11], LpPool: [11], Pad: [11], ReduceL1: [11], ReduceL2: [11], ReduceLogSum: [11],
  ReduceLogSumExp: [11], ReduceMax: [11], ReduceMean: [11], ReduceMin: [11], ReduceProd: [11], ReduceSum: [11],
  ReduceSumSquare: [11], Softmax: [11], Split: [11], Squeeze: [11], Unsqueeze: [11],
  // New in 9 or 10, then versioned again in 11: an opset-9/10 model may hold them.
  Compress: [11], MaxUnpool: [11], OneHot: [11], Scatter: [11], NonMaxSuppression: [11], Resize: [11],
};

/**
 * Why a node means something else under opset 11 than under `opset`, or undefined when its meaning is kept. A new
 * version that only widens types, accepts negative axes, makes an input optional or adds attributes whose defaults
 * are the old behaviour keeps it; one that moves an attribute to an input, removes one, or changes a default does not.
 */
function changedMeaning(n: NodeProto, opset: number): string | undefined {
  const op = n.opType ?? '';
  if (!(NEW_VERSIONS[op] ?? []).some((v) => v > opset && v <= INT8_OPSET)) return undefined;
  const attr = (name: string) => (n.attribute ?? []).find((a) => a.name === name);
  const text = (name: string) => { const a = attr(name); return a?.s ? Buffer.from(a.s).toString('utf8') : undefined; };
  switch (op) {
    case 'Slice': case 'TopK':
      return opset < 10 ? 'its attributes became inputs (opset 10)' : undefined;
    case 'Clip': case 'Pad':
      return 'its attributes became inputs (opset 11)';
    case 'Upsample':
      return 'its scales became an input (opset 9), then it gave way to Resize (opset 10)';
    case 'BatchNormalization':
      return attr('spatial') && Number(attr('spatial')!.i) !== 1 ? 'spatial=0 was removed' : undefined;
    case 'Dropout':
      return (n.output ?? []).length > 1 && n.output![1] ? 'its mask output became BOOL' : undefined;
    case 'Scan':
      return opset < 9 ? 'its inputs and attributes changed (sequence_lens, directions)' : undefined;
    case 'Resize':
      return 'its default coordinate transformation changed (half_pixel)';
    case 'Scatter':
      return 'it is deprecated in favour of ScatterElements';
    case 'Conv': case 'ConvTranspose': case 'AveragePool': case 'MaxPool': case 'LpPool': {
      const pad = text('auto_pad');
      return pad === 'SAME_UPPER' || pad === 'SAME_LOWER' ? `its auto_pad ${pad} output size was redefined` : undefined;
    }
    default:
      return undefined;
  }
}

function* nodesOf(g: GraphProto): Generator<NodeProto> {
  for (const n of g.node ?? []) {
    yield n;
    for (const a of n.attribute ?? []) {
      if (a.g) yield* nodesOf(a.g);
      for (const sg of a.graphs ?? []) yield* nodesOf(sg);
    }
  }
}

/**
 * The model at opset 11: itself when it is there already; else a copy with the default domain's opset import raised,
 * when every default-domain op keeps its meaning; else an UnsupportedModel error naming the first op that does not.
 */
export function toInt8Opset(model: ModelProto): { model: ModelProto; from?: number } {
  const opset = defaultOpset(model);
  if (opset >= INT8_OPSET) return { model };
  for (const n of nodesOf(model.graph!)) {
    if (n.domain && n.domain !== 'ai.onnx') continue;
    const why = changedMeaning(n, opset);
    if (why) {
      throw new OptimizeError('UnsupportedModel', `int8 needs opset ${INT8_OPSET} and the model has opset ${opset}; ${n.opType}${n.name ? ` (${n.name})` : ''} does not mean the same at opset ${INT8_OPSET}: ${why}. Export the model at opset ${INT8_OPSET} or later`);
    }
  }
  const out = cloneShallow(model);
  out.opsetImport = (model.opsetImport ?? []).map((o) => (!o.domain || o.domain === 'ai.onnx' ? { ...o, version: INT8_OPSET } : o));
  return { model: out, from: opset };
}
