// A small decoder-only language model built in code, laid out as Optimum and transformers.js export one
// (`text-generation-with-past`): input_ids, attention_mask, position_ids and past_key_values.{i}.key|value in;
// logits and present.{i}.key|value out. The attention is real (grouped-query, causal, the attention mask applied to
// padding), the weights deterministic random numbers, so its answers are gibberish but exactly reproducible. Beside it,
// the files a model directory carries: config.json, generation_config.json, and a byte-level BPE tokenizer trained here
// on a little text (tokenizer.json, tokenizer_config.json with a ChatML chat template).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeModel, randomFloats, type GraphSpec, type InitializerSpec, type NodeSpec, type ValueSpec } from './onnx-models.js';

export interface DecoderSpec {
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  /** Key/value heads (grouped-query attention: heads is a multiple of it). */
  kvHeads: number;
  intermediate: number;
  maxPositions: number;
  /** The element type of past_key_values and present (float16: as an fp16 export keeps its cache), and of logits. */
  kvDtype: 'float32' | 'float16';
  /** Whether position_ids is an input; without it the model counts positions from attention_mask itself. */
  positionIds: boolean;
  /**
   * Whether use_cache_branch is an input, as Optimum's merged decoders take it (true once there is a past): the past
   * counts only when it is true (float32 caches only).
   */
  useCacheBranch?: boolean;
  /** Standard deviation of the logits, roughly: a larger one makes near-ties (and so greedy flips on rounding) rarer. */
  logitScale: number;
  seed: number;
}

export const DEFAULT_DECODER: Omit<DecoderSpec, 'vocabSize'> = {
  hidden: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 128,
  maxPositions: 2048,
  kvDtype: 'float32',
  positionIds: true,
  logitScale: 4,
  seed: 4242,
};

const NEG = -1e9;

/** The nodes and initializers of a graph as it is built, each weight drawn from the next seed. */
class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly inits: InitializerSpec[] = [];

  constructor(private seed: number) {}

  weight(name: string, dims: number[], scale: number): void {
    this.inits.push({ name, dims, data: randomFloats(dims.reduce((a, b) => a * b, 1), this.seed++, scale) });
  }

  ones(name: string, n: number): void {
    this.inits.push({ name, dims: [n], data: new Float32Array(n).fill(1) });
  }

  zeros(name: string, n: number): void {
    this.inits.push({ name, dims: [n], data: new Float32Array(n) });
  }

  i64(name: string, values: number[], dims: number[] = [values.length]): void {
    this.inits.push({ name, dims, data: BigInt64Array.from(values.map(BigInt)) });
  }

  f32(name: string, value: number): void {
    this.inits.push({ name, dims: [], data: Float32Array.from([value]) });
  }

  node(op: string, inputs: string[], outputs: string[], attributes?: NodeSpec['attributes']): void {
    this.nodes.push({ op, inputs, outputs, attributes });
  }
}

/** Uniform in [-s, s) has standard deviation s / sqrt(3). */
const uniform = (std: number) => std * Math.sqrt(3);

/** The decoder graph: token and learned position embeddings, `layers` pre-norm blocks (attention, SiLU MLP), an LM head. */
export function decoderModel(spec: DecoderSpec): GraphSpec {
  const { hidden: D, heads: H, kvHeads: KVH } = spec;
  if (D % H !== 0) throw new Error(`hidden ${D} is not a multiple of heads ${H}`);
  if (H % KVH !== 0) throw new Error(`heads ${H} is not a multiple of kvHeads ${KVH}`);
  if (spec.useCacheBranch && spec.kvDtype === 'float16') throw new Error('useCacheBranch: float32 caches only');
  const b = new GraphBuilder(spec.seed);
  constants(b, spec);
  const positions = lengthsAndPositions(b, spec);
  b.weight('embed_tokens', [spec.vocabSize, D], 1);
  b.weight('embed_positions', [spec.maxPositions, D], 0.5);
  b.node('Gather', ['embed_tokens', 'input_ids'], ['tok_emb'], { axis: 0 });
  b.node('Gather', ['embed_positions', positions], ['pos_emb'], { axis: 0 });
  b.node('Add', ['tok_emb', 'pos_emb'], ['h_0']);
  attentionMask(b);
  const { inputs, outputs } = signature(spec);
  if (spec.useCacheBranch) b.node('Cast', ['use_cache_branch'], ['use_cache_f'], { to: 1 });
  let h = 'h_0';
  for (let l = 0; l < spec.layers; l++) h = decoderLayer(b, spec, l, h);
  lmHead(b, spec, h);
  return { name: 'tiny-decoder', inputs, outputs, nodes: b.nodes, initializers: b.inits, opset: 17 };
}

/** Shape arguments and scalars the graph shares. */
function constants(b: GraphBuilder, spec: DecoderSpec): void {
  const { hidden: D, heads: H, kvHeads: KVH } = spec;
  const hd = D / H;
  b.i64('c_zero', [0], []);
  b.i64('c_one', [1], []);
  b.i64('c_one_1d', [1]);
  b.i64('c_two_1d', [2]);
  b.i64('c_axis1', [1]);
  b.i64('c_axes123', [1, 2, 3]);
  b.i64('c_axis2', [2]);
  b.f32('c_onef', 1);
  b.f32('c_neg', NEG);
  b.f32('c_scale', 1 / Math.sqrt(hd));
  b.i64('c_q_shape', [0, 0, H, hd]);
  b.i64('c_kv_shape', [0, 0, KVH, hd]);
  b.i64('c_q_groups', [0, KVH, H / KVH, -1, hd]);
  b.i64('c_ctx_heads', [0, H, -1, hd]);
  b.i64('c_ctx_flat', [0, 0, H * hd]);
}

/** Sequence and total lengths as scalars; returns the positions: given, or counted from the attention mask. */
function lengthsAndPositions(b: GraphBuilder, spec: DecoderSpec): string {
  b.node('Shape', ['input_ids'], ['ids_shape']);
  b.node('Slice', ['ids_shape', 'c_one_1d', 'c_two_1d'], ['seq_1d']);
  b.node('Squeeze', ['seq_1d'], ['seq']);
  b.node('Shape', ['attention_mask'], ['mask_shape']);
  b.node('Slice', ['mask_shape', 'c_one_1d', 'c_two_1d'], ['total_1d']);
  b.node('Squeeze', ['total_1d'], ['total']);
  if (spec.positionIds) return 'position_ids';
  // Padding counts nothing, as GPT-2's export does.
  b.i64('c_int_max', [2 ** 53 - 1]);
  b.node('CumSum', ['attention_mask', 'c_one'], ['mask_cumsum']);
  b.node('Sub', ['mask_cumsum', 'c_one'], ['mask_positions']);
  b.node('Neg', ['seq_1d'], ['neg_seq_1d']);
  b.node('Slice', ['mask_positions', 'neg_seq_1d', 'c_int_max', 'c_axis1'], ['last_positions']);
  b.node('Max', ['last_positions', 'c_zero'], ['computed_positions']);
  return 'computed_positions';
}

/** The additive mask [B,1,1,S,T]: -1e9 where the key is padding or lies after the query. */
function attentionMask(b: GraphBuilder): void {
  b.node('Range', ['c_zero', 'total', 'c_one'], ['key_index']);
  b.node('Sub', ['total', 'seq'], ['query_start']);
  b.node('Range', ['query_start', 'total', 'c_one'], ['query_index']);
  b.node('Unsqueeze', ['query_index', 'c_axis1'], ['query_col']);
  b.node('Greater', ['key_index', 'query_col'], ['future']);
  b.node('Cast', ['future'], ['future_f'], { to: 1 });
  b.node('Mul', ['future_f', 'c_neg'], ['causal_add']);
  b.node('Cast', ['attention_mask'], ['mask_f'], { to: 1 });
  b.node('Sub', ['c_onef', 'mask_f'], ['pad_f']);
  b.node('Mul', ['pad_f', 'c_neg'], ['pad_add']);
  b.node('Unsqueeze', ['pad_add', 'c_axes123'], ['pad_add5']);
  b.node('Add', ['pad_add5', 'causal_add'], ['attn_mask']);
}

/** The inputs and outputs of Optimum's text-generation-with-past export. */
function signature(spec: DecoderSpec): { inputs: ValueSpec[]; outputs: ValueSpec[] } {
  const kvType = spec.kvDtype === 'float16' ? 'FLOAT16' : 'FLOAT';
  const hd = spec.hidden / spec.heads;
  const inputs: ValueSpec[] = [
    { name: 'input_ids', type: 'INT64', shape: ['batch_size', 'sequence_length'] },
    { name: 'attention_mask', type: 'INT64', shape: ['batch_size', 'past_sequence_length + sequence_length'] },
  ];
  if (spec.positionIds) inputs.push({ name: 'position_ids', type: 'INT64', shape: ['batch_size', 'sequence_length'] });
  if (spec.useCacheBranch) inputs.push({ name: 'use_cache_branch', type: 'BOOL', shape: [1] });
  const outputs: ValueSpec[] = [{ name: 'logits', type: kvType, shape: ['batch_size', 'sequence_length', spec.vocabSize] }];
  for (let l = 0; l < spec.layers; l++) {
    for (const kv of ['key', 'value']) {
      inputs.push({ name: `past_key_values.${l}.${kv}`, type: kvType, shape: ['batch_size', spec.kvHeads, 'past_sequence_length', hd] });
      outputs.push({ name: `present.${l}.${kv}`, type: kvType, shape: ['batch_size', spec.kvHeads, 'past_sequence_length + sequence_length', hd] });
    }
  }
  return { inputs, outputs };
}

/** One pre-norm block: grouped-query attention over the cache, then a SiLU MLP, each added to the residual. */
function decoderLayer(b: GraphBuilder, spec: DecoderSpec, l: number, h: string): string {
  const { hidden: D, heads: H, kvHeads: KVH, intermediate: I } = spec;
  const hd = D / H;
  const p = (s: string) => `l${l}_${s}`;
  b.ones(p('ln1_w'), D);
  b.zeros(p('ln1_b'), D);
  b.node('LayerNormalization', [h, p('ln1_w'), p('ln1_b')], [p('n1')], { axis: -1, epsilon: 1e-5 });
  b.weight(p('wq'), [D, H * hd], uniform(1 / Math.sqrt(D)));
  b.weight(p('wk'), [D, KVH * hd], uniform(1 / Math.sqrt(D)));
  b.weight(p('wv'), [D, KVH * hd], uniform(1 / Math.sqrt(D)));
  b.weight(p('wo'), [H * hd, D], uniform(1 / Math.sqrt(H * hd)));
  b.node('MatMul', [p('n1'), p('wq')], [p('q')]);
  b.node('MatMul', [p('n1'), p('wk')], [p('k')]);
  b.node('MatMul', [p('n1'), p('wv')], [p('v')]);
  b.node('Reshape', [p('q'), 'c_q_shape'], [p('q4')]);
  b.node('Transpose', [p('q4')], [p('qt')], { perm: [0, 2, 1, 3] });
  b.node('Reshape', [p('qt'), 'c_q_groups'], [p('q5')]);
  for (const kv of ['k', 'v'] as const) cachedKeysOrValues(b, spec, l, kv);
  b.node('Transpose', [p('k5')], [p('k5t')], { perm: [0, 1, 2, 4, 3] });
  b.node('MatMul', [p('q5'), p('k5t')], [p('scores')]);
  b.node('Mul', [p('scores'), 'c_scale'], [p('scaled')]);
  b.node('Add', [p('scaled'), 'attn_mask'], [p('masked')]);
  b.node('Softmax', [p('masked')], [p('probs')], { axis: -1 });
  b.node('MatMul', [p('probs'), p('v5')], [p('ctx')]);
  b.node('Reshape', [p('ctx'), 'c_ctx_heads'], [p('ctx4')]);
  b.node('Transpose', [p('ctx4')], [p('ctxt')], { perm: [0, 2, 1, 3] });
  b.node('Reshape', [p('ctxt'), 'c_ctx_flat'], [p('ctx3')]);
  b.node('MatMul', [p('ctx3'), p('wo')], [p('attn')]);
  b.node('Add', [h, p('attn')], [p('h_attn')]);
  b.ones(p('ln2_w'), D);
  b.zeros(p('ln2_b'), D);
  b.node('LayerNormalization', [p('h_attn'), p('ln2_w'), p('ln2_b')], [p('n2')], { axis: -1, epsilon: 1e-5 });
  b.weight(p('w_up'), [D, I], uniform(1 / Math.sqrt(D)));
  b.weight(p('w_down'), [I, D], uniform(1 / Math.sqrt(I)));
  b.node('MatMul', [p('n2'), p('w_up')], [p('up')]);
  b.node('Sigmoid', [p('up')], [p('gate')]);
  b.node('Mul', [p('up'), p('gate')], [p('act')]);
  b.node('MatMul', [p('act'), p('w_down')], [p('down')]);
  b.node('Add', [p('h_attn'), p('down')], [`h_${l + 1}`]);
  return `h_${l + 1}`;
}

/** A layer's keys or values: the new ones appended to the past (present.{l}.*), as attention reads them. */
function cachedKeysOrValues(b: GraphBuilder, spec: DecoderSpec, l: number, kv: 'k' | 'v'): void {
  const p = (s: string) => `l${l}_${s}`;
  const past = `past_key_values.${l}.${kv === 'k' ? 'key' : 'value'}`;
  const present = `present.${l}.${kv === 'k' ? 'key' : 'value'}`;
  b.node('Reshape', [p(kv), 'c_kv_shape'], [p(`${kv}4`)]);
  b.node('Transpose', [p(`${kv}4`)], [p(`${kv}t`)], { perm: [0, 2, 1, 3] });
  if (spec.kvDtype === 'float16') {
    // The cache holds halves: what attention reads back is what the cache keeps, whether it was just computed
    // or computed by an earlier run (so a prompt prefilled in chunks attends as one prefilled whole).
    b.node('Cast', [p(`${kv}t`)], [p(`${kv}t16`)], { to: 10 });
    b.node('Concat', [past, p(`${kv}t16`)], [present], { axis: 2 });
    b.node('Cast', [present], [p(`${kv}_all`)], { to: 1 });
  } else if (spec.useCacheBranch) {
    b.node('Mul', [past, 'use_cache_f'], [p(`${kv}_past`)]);
    b.node('Concat', [p(`${kv}_past`), p(`${kv}t`)], [present], { axis: 2 });
    b.node('Identity', [present], [p(`${kv}_all`)]);
  } else {
    b.node('Concat', [past, p(`${kv}t`)], [present], { axis: 2 });
    b.node('Identity', [present], [p(`${kv}_all`)]);
  }
  b.node('Unsqueeze', [p(`${kv}_all`), 'c_axis2'], [p(`${kv}5`)]);
}

/** The final norm and the LM head (logits cast to halves for a float16 model). */
function lmHead(b: GraphBuilder, spec: DecoderSpec, h: string): void {
  b.ones('ln_f_w', spec.hidden);
  b.zeros('ln_f_b', spec.hidden);
  b.node('LayerNormalization', [h, 'ln_f_w', 'ln_f_b'], ['h_final'], { axis: -1, epsilon: 1e-5 });
  b.weight('lm_head', [spec.hidden, spec.vocabSize], uniform(spec.logitScale / Math.sqrt(spec.hidden)));
  if (spec.kvDtype === 'float16') {
    b.node('MatMul', ['h_final', 'lm_head'], ['logits_f32']);
    b.node('Cast', ['logits_f32'], ['logits'], { to: 10 });
  } else b.node('MatMul', ['h_final', 'lm_head'], ['logits']);
}

// ---------------------------------------------------------------------------------------------------------------
// The tokenizer: byte-level BPE (GPT-2's byte alphabet), its merges learned here from a little text.

/** GPT-2's map from bytes to printable characters, so that every byte string is a string of vocabulary symbols. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + n++);
  return out;
}

const CORPUS = `
Modelplane deploys models on Kubernetes. A user applies a model deployment; the operator reconciles it into runtime
pods that serve the model, report readiness and metrics, and scale with load. The runtime loads one model and serves
it over the open inference protocol. Generative models answer completions and chat completions: the server keeps the
key and value cache between steps, batches the sequences that are running, and streams each token as it is made.
Hello, how are you today? I am fine, thank you. What is the weather like? It is sunny and warm in the city.
The quick brown fox jumps over the lazy dog. One, two, three, four, five, six, seven, eight, nine, ten.
Tell me a story about a cat who lives in a small house near the sea, and the boat that brings fish every morning.
`;

/** GPT-2's pre-tokenisation pattern (the one the ByteLevel pre-tokenizer applies with use_regex). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** A byte-level BPE tokenizer.json with `merges` merges learned from the text above, and the special tokens after them. */
export function tokenizerJson(merges = 200): { json: Record<string, unknown>; vocab: Map<string, number> } {
  const byteChar = bytesToUnicode();
  const enc = new TextEncoder();
  const words = new Map<string, number>();
  for (const w of CORPUS.replace(/\n/g, ' ').match(GPT2_SPLIT) ?? []) {
    const sym = [...enc.encode(w)].map((b) => byteChar[b]).join('\u0000');
    words.set(sym, (words.get(sym) ?? 0) + 1);
  }
  let split = [...words].map(([w, n]) => ({ parts: w.split('\u0000'), n }));
  const vocab = new Map<string, number>();
  [...byteChar].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!).forEach((c, i) => vocab.set(c, i));
  const mergeList: string[] = [];
  for (let m = 0; m < merges; m++) {
    const pairs = new Map<string, number>();
    for (const { parts, n } of split) for (let i = 0; i + 1 < parts.length; i++) {
      const key = `${parts[i]} ${parts[i + 1]}`;
      pairs.set(key, (pairs.get(key) ?? 0) + n);
    }
    const best = [...pairs].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    if (!best || best[1] < 2) break;
    const [a, b] = best[0].split(' ');
    mergeList.push(best[0]);
    vocab.set(a + b, vocab.size);
    split = split.map(({ parts, n }) => {
      const out: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(parts[i]);
      }
      return { parts: out, n };
    });
  }
  const added = SPECIAL_TOKENS.map((content) => {
    const id = vocab.size;
    vocab.set(content, id);
    return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    vocab,
    json: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: byteLevel,
      decoder: byteLevel,
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: Object.fromEntries(vocab), merges: mergeList,
      },
    },
  };
}

export interface DecoderDirOptions extends Partial<Omit<DecoderSpec, 'vocabSize'>> {
  /** BPE merges learned (the vocabulary is 256 bytes, the merges, and 3 special tokens). */
  merges?: number;
  /** generation_config.json's eos_token_id (default: <|endoftext|> and <|im_end|>). */
  eosTokenIds?: number[];
  /** Extra keys for generation_config.json (sampling defaults such as temperature). */
  generationConfig?: Record<string, unknown>;
  /**
   * Store the weights as ONNX external data in `model.onnx_data` beside model.onnx, as Optimum and transformers
   * export models past protobuf's 2 GiB: each initializer of at least 1 KiB, at a 64-byte aligned offset.
   */
  externalData?: boolean;
}

/** The external-data file name Optimum and transformers.js exports use. */
export const DECODER_DATA_FILE = 'model.onnx_data';

/** Initializers this size or larger go to the external-data file; the small constants stay in the model. */
const EXTERNAL_MIN_BYTES = 1024;

/**
 * The graph with its large initializers moved to `location` (ONNX external data: location, offset, length), and the
 * bytes that file holds.
 */
export function withExternalData(g: GraphSpec, location: string): { graph: GraphSpec; data: Uint8Array } {
  let end = 0;
  const initializers = (g.initializers ?? []).map((init): InitializerSpec => {
    if (init.data.byteLength < EXTERNAL_MIN_BYTES) return init;
    const offset = Math.ceil(end / 64) * 64;
    end = offset + init.data.byteLength;
    return { ...init, external: { location, offset } };
  });
  const data = new Uint8Array(end);
  for (const init of initializers) {
    if (init.external) data.set(new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength), init.external.offset);
  }
  return { graph: { ...g, initializers }, data };
}

/** model.onnx, and with external data model.onnx_data beside it. */
function writeModelFiles(dir: string, g: GraphSpec, externalData: boolean): void {
  if (!externalData) return writeFileSync(join(dir, 'model.onnx'), encodeModel(g));
  const { graph, data } = withExternalData(g, DECODER_DATA_FILE);
  writeFileSync(join(dir, DECODER_DATA_FILE), data);
  writeFileSync(join(dir, 'model.onnx'), encodeModel(graph));
}

export interface DecoderDir {
  dir: string;
  spec: DecoderSpec;
  vocab: Map<string, number>;
  eosTokenIds: number[];
}

/**
 * Writes a model directory (model.onnx, with externalData its weights in model.onnx_data, config.json,
 * generation_config.json, tokenizer.json, tokenizer_config.json).
 */
export function writeDecoderModelDir(dir: string, opts: DecoderDirOptions = {}): DecoderDir {
  const { json, vocab } = tokenizerJson(opts.merges);
  const spec: DecoderSpec = { ...DEFAULT_DECODER, ...opts, vocabSize: vocab.size };
  mkdirSync(dir, { recursive: true });
  writeModelFiles(dir, decoderModel(spec), opts.externalData === true);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  const id = (t: string) => vocab.get(t)!;
  const eosTokenIds = opts.eosTokenIds ?? [id('<|endoftext|>'), id('<|im_end|>')];
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    model_max_length: spec.maxPositions,
    clean_up_tokenization_spaces: false,
    chat_template: CHATML_TEMPLATE,
    added_tokens_decoder: Object.fromEntries(SPECIAL_TOKENS.map((t) => [String(id(t)), { content: t, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }])),
  }, null, 2));
  const headDim = spec.hidden / spec.heads;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['TinyDecoderForCausalLM'],
    model_type: 'tiny-decoder',
    vocab_size: spec.vocabSize,
    hidden_size: spec.hidden,
    num_hidden_layers: spec.layers,
    num_attention_heads: spec.heads,
    num_key_value_heads: spec.kvHeads,
    head_dim: headDim,
    intermediate_size: spec.intermediate,
    max_position_embeddings: spec.maxPositions,
    bos_token_id: null,
    eos_token_id: id('<|endoftext|>'),
    pad_token_id: id('<|endoftext|>'),
    torch_dtype: spec.kvDtype,
  }, null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({
    eos_token_id: eosTokenIds.length === 1 ? eosTokenIds[0] : eosTokenIds,
    pad_token_id: id('<|endoftext|>'),
    ...opts.generationConfig,
  }, null, 2));
  return { dir, spec, vocab, eosTokenIds };
}
