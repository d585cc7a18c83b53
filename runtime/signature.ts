// A model's inputs and outputs as the protocol describes them, read from the onnxruntime session.
import { datatypeOfOrt, type Datatype, type OrtType } from './datatypes.js';

export interface TensorSpec {
  name: string;
  datatype: Datatype;
  ortType: OrtType;
  /** -1 marks a symbolic (variable) dimension. */
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** What onnxruntime-node reports in `session.inputMetadata` / `outputMetadata`. */
export interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: ReadonlyArray<number | string>;
}

export function tensorSpec(meta: OrtValueMetadata): TensorSpec {
  if (!meta.isTensor || !meta.type) throw new Error(`${meta.name}: only tensor inputs and outputs are supported`);
  const datatype = datatypeOfOrt(meta.type);
  if (!datatype) throw new Error(`${meta.name}: tensor type ${meta.type} has no Open Inference Protocol datatype`);
  const shape = (meta.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: meta.name, datatype, ortType: meta.type as OrtType, shape };
}

/**
 * Whether requests can be concatenated along dimension 0: every input and output has rank >= 1 and a
 * variable first dimension. Returns the reason when not.
 */
export function batchability(sig: ModelSignature): { ok: true } | { ok: false; reason: string } {
  for (const t of [...sig.inputs, ...sig.outputs]) {
    if (t.shape.length === 0) return { ok: false, reason: `${t.name} is a scalar` };
    if (t.shape[0] !== -1) return { ok: false, reason: `${t.name} has a fixed first dimension (${t.shape[0]})` };
  }
  return { ok: true };
}

/** A valid shape for a zero-filled warm-up run: variable dimensions become 1. */
export function warmupShape(spec: TensorSpec): number[] {
  return spec.shape.map((d) => (d === -1 ? 1 : d));
}
