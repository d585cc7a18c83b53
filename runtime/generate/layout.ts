// Whether a model is a decoder in the layout Optimum and transformers.js export (`text-generation-with-past`), read
// from its signature (names, element types, ranks) and its config.json (what a signature cannot say: the number of
// attention heads). Anything else is served as an ordinary model.
import type { ModelSignature, TensorSpec } from '../signature.js';

export type KvDtype = 'float32' | 'float16';

export interface DecoderLayout {
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** The element type of past_key_values and present. */
  kvDtype: KvDtype;
  logitsDtype: KvDtype;
  vocabSize: number;
  /** Whether position_ids is an input (else the model counts positions from attention_mask). */
  positionIds: boolean;
  /** Optimum's merged decoders take use_cache_branch: true once there is a past. */
  useCacheBranch: boolean;
}

/** The keys of a Hugging Face config.json the layout may need. */
export interface ModelConfigJson {
  num_attention_heads?: number;
  n_head?: number;
  num_key_value_heads?: number;
  head_dim?: number;
  hidden_size?: number;
  n_embd?: number;
  vocab_size?: number;
  max_position_embeddings?: number;
  n_positions?: number;
  eos_token_id?: number | number[] | null;
  pad_token_id?: number | null;
  bos_token_id?: number | null;
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const PRESENT = /^present\.(\d+)\.(key|value)$/;

/** Bytes of KV cache one token takes in every layer (key and value). */
export function kvBytesPerToken(l: Pick<DecoderLayout, 'layers' | 'kvHeads' | 'headDim' | 'kvDtype'>): number {
  return l.layers * 2 * l.kvHeads * l.headDim * (l.kvDtype === 'float16' ? 2 : 4);
}

const positive = (n: unknown): number | undefined => (typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined);

/** The decoder layout of a signature, or why it is not one (a sentence naming the tensor or config key). */
export function decoderLayout(sig: ModelSignature, config: ModelConfigJson): { layout: DecoderLayout } | { reason: string } {
  const inputs = new Map(sig.inputs.map((t) => [t.name, t]));
  const outputs = new Map(sig.outputs.map((t) => [t.name, t]));
  for (const name of ['input_ids', 'attention_mask']) {
    const t = inputs.get(name);
    if (!t) return { reason: `it has no input ${name}` };
    if (t.ortType !== 'int64' || t.shape.length !== 2) return { reason: `input ${name} is ${t.ortType}[${t.shape.length} dims], not int64 [batch, sequence]` };
  }
  const position = inputs.get('position_ids');
  if (position && (position.ortType !== 'int64' || position.shape.length !== 2)) return { reason: 'input position_ids is not int64 [batch, sequence]' };
  const branch = inputs.get('use_cache_branch');
  if (branch && branch.ortType !== 'bool') return { reason: 'input use_cache_branch is not bool' };
  const logits = outputs.get('logits');
  if (!logits) return { reason: 'it has no output logits' };
  if (logits.shape.length !== 3 || (logits.ortType !== 'float32' && logits.ortType !== 'float16')) return { reason: `output logits is ${logits.ortType}[${logits.shape.length} dims], not float32 or float16 [batch, sequence, vocabulary]` };

  const past: TensorSpec[] = [];
  for (const t of sig.inputs) {
    const m = PAST.exec(t.name);
    if (m) past.push(t);
    else if (!['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch'].includes(t.name)) return { reason: `input ${t.name} is not one a decoder with past takes` };
  }
  if (past.length === 0) return { reason: 'it has no past_key_values inputs (export it with past: text-generation-with-past)' };
  const layers = past.length / 2;
  if (!Number.isInteger(layers)) return { reason: 'its past_key_values inputs do not come in key/value pairs' };
  for (let l = 0; l < layers; l++) {
    for (const kv of ['key', 'value']) {
      if (!inputs.has(`past_key_values.${l}.${kv}`)) return { reason: `it has no input past_key_values.${l}.${kv}` };
      if (!outputs.has(`present.${l}.${kv}`)) return { reason: `it has no output present.${l}.${kv}` };
    }
  }
  for (const t of sig.outputs) if (t.name !== 'logits' && !PRESENT.test(t.name)) return { reason: `output ${t.name} is not one a decoder with past gives` };
  if (sig.outputs.length !== 1 + 2 * layers) return { reason: 'its present outputs do not match its past_key_values inputs' };

  const first = past[0];
  const kvDtype = first.ortType;
  if (kvDtype !== 'float32' && kvDtype !== 'float16') return { reason: `past_key_values are ${kvDtype}, not float32 or float16` };
  for (const t of [...past, ...sig.outputs.filter((o) => PRESENT.test(o.name))]) {
    if (t.ortType !== kvDtype) return { reason: `${t.name} is ${t.ortType} while ${first.name} is ${kvDtype}` };
    if (t.shape.length !== 4) return { reason: `${t.name} has ${t.shape.length} dimensions, not [batch, kv_heads, sequence, head_dim]` };
    if (t.shape[1] !== first.shape[1] || t.shape[3] !== first.shape[3]) return { reason: `${t.name} has shape [${t.shape}] unlike ${first.name} [${first.shape}]` };
  }
  const heads = positive(config.num_attention_heads) ?? positive(config.n_head);
  const hidden = positive(config.hidden_size) ?? positive(config.n_embd);
  const kvHeads = first.shape[1] > 0 ? first.shape[1] : positive(config.num_key_value_heads) ?? heads;
  const headDim = first.shape[3] > 0 ? first.shape[3] : positive(config.head_dim) ?? (hidden && heads ? hidden / heads : undefined);
  if (!kvHeads) return { reason: `${first.name} has a symbolic kv_heads dimension and config.json has no num_key_value_heads` };
  if (!headDim || !Number.isInteger(headDim)) return { reason: `${first.name} has a symbolic head_dim dimension and config.json has no head_dim (or hidden_size and num_attention_heads)` };
  if (!heads) return { reason: 'config.json has no num_attention_heads' };
  if (heads % kvHeads !== 0) return { reason: `config.json num_attention_heads ${heads} is not a multiple of the ${kvHeads} key/value heads` };
  const vocabSize = logits.shape[2] > 0 ? logits.shape[2] : positive(config.vocab_size);
  if (!vocabSize) return { reason: 'logits has a symbolic vocabulary dimension and config.json has no vocab_size' };
  return {
    layout: {
      layers, heads, kvHeads, headDim, kvDtype, logitsDtype: logits.ortType as KvDtype, vocabSize,
      positionIds: position !== undefined, useCacheBranch: branch !== undefined,
    },
  };
}
