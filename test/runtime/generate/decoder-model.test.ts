// The decoder built in code is a real decoder: its KV cache carries what a full recomputation would, padding under
// the attention mask changes nothing, grouped-query heads are wired as exported models wire them, and its tokenizer
// loads in @huggingface/tokenizers. Everything here runs raw onnxruntime-node, never the runtime.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { writeDecoderModelDir, type DecoderDir } from '../../../examples/decoder-model.js';
import { tempDir } from '../../support/runtime-process.js';
import { halfToFloat } from './support.js';

const tmp = tempDir('modelplane-decoder-');
afterAll(() => tmp.remove());

interface Loaded {
  model: DecoderDir;
  session: ort.InferenceSession;
}

async function load(name: string, opts: Parameters<typeof writeDecoderModelDir>[1] = {}): Promise<Loaded> {
  const model = writeDecoderModelDir(join(tmp.path, name), opts);
  const session = await ort.InferenceSession.create(join(model.dir, 'model.onnx'), { intraOpNumThreads: 1 });
  return { model, session };
}

type Cache = ort.Tensor[];

/** One run: rows of tokens (left-padded with `pad` zeros in the mask), the past, real lengths per row. */
async function run(m: Loaded, rows: number[][], past: Cache | undefined, pastLen: number, masks: number[][]): Promise<{ logits: number[][][]; present: Cache }> {
  const { spec } = m.model;
  const B = rows.length;
  const S = rows[0].length;
  const hd = spec.hidden / spec.heads;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [B, S]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(masks.flat().map(BigInt)), [B, pastLen + S]),
  };
  if (spec.positionIds) {
    const pos = masks.map((mask) => {
      const out: number[] = [];
      let n = mask.slice(0, pastLen).reduce((a, b) => a + b, 0);
      for (let i = 0; i < S; i++) out.push(mask[pastLen + i] ? n++ : 0);
      return out;
    });
    feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(pos.flat().map(BigInt)), [B, S]);
  }
  const kvType = spec.kvDtype === 'float16' ? 'float16' : 'float32';
  for (let l = 0; l < spec.layers; l++) {
    for (const [k, kind] of [[0, 'key'], [1, 'value']] as const) {
      feeds[`past_key_values.${l}.${kind}`] = past?.[l * 2 + k] ?? new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [B, spec.kvHeads, 0, hd]);
    }
  }
  const out = await m.session.run(feeds);
  const V = spec.vocabSize;
  const raw = out.logits.data as Float32Array | Uint16Array;
  const value = (i: number) => (raw instanceof Uint16Array ? halfToFloat(raw[i]) : raw[i]);
  const logits = Array.from({ length: B }, (_, b) => Array.from({ length: S }, (_, s) => Array.from({ length: V }, (_, v) => value((b * S + s) * V + v))));
  const present: Cache = [];
  for (let l = 0; l < spec.layers; l++) present.push(out[`present.${l}.key`], out[`present.${l}.value`]);
  return { logits, present };
}

const argmax = (v: number[]) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);
const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));

describe.each([
  ['float32 cache, position_ids given', {}],
  ['float16 cache and logits', { kvDtype: 'float16' as const }],
  ['positions counted from the attention mask', { positionIds: false }],
])('the tiny decoder (%s)', (name, opts) => {
  let m: Loaded;
  beforeAll(async () => {
    m = await load(name.replace(/\W+/g, '-'), opts);
  });

  test('has the exported layout: names, grouped-query KV heads, head dim', () => {
    const { spec } = m.model;
    const hd = spec.hidden / spec.heads;
    expect(spec.kvHeads).toBeLessThan(spec.heads);
    const inputs = ['input_ids', 'attention_mask', ...(spec.positionIds ? ['position_ids'] : []), ...Array.from({ length: spec.layers }, (_, l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`]).flat()];
    expect(m.session.inputNames).toEqual(inputs);
    expect(m.session.outputNames).toEqual(['logits', ...Array.from({ length: spec.layers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat()]);
    const meta = (m.session as unknown as { inputMetadata: { name: string; shape: (string | number)[]; type: string }[] }).inputMetadata;
    const past = meta.find((i) => i.name === 'past_key_values.0.key')!;
    expect(past.shape).toEqual(['batch_size', spec.kvHeads, 'past_sequence_length', hd]);
    expect(past.type).toBe(spec.kvDtype === 'float16' ? 'float16' : 'float32');
  });

  test('decoding with the KV cache gives the logits of recomputing the whole sequence', async () => {
    const tokens = [5, 80, 17, 300, 42, 9, 120, 77];
    const whole = await run(m, [tokens], undefined, 0, [tokens.map(() => 1)]);
    // The prompt in two chunks, then one token at a time.
    let step = await run(m, [tokens.slice(0, 3)], undefined, 0, [[1, 1, 1]]);
    step = await run(m, [tokens.slice(3, 6)], step.present, 3, [[1, 1, 1, 1, 1, 1]]);
    const tol = m.model.spec.kvDtype === 'float16' ? 2e-2 : 1e-4;
    expect(maxDiff(step.logits[0][2], whole.logits[0][5])).toBeLessThan(tol);
    for (let t = 6; t < tokens.length; t++) {
      step = await run(m, [[tokens[t]]], step.present, t, [Array(t + 1).fill(1)]);
      expect(maxDiff(step.logits[0][0], whole.logits[0][t])).toBeLessThan(tol);
    }
    expect(step.present[0].dims).toEqual([1, m.model.spec.kvHeads, tokens.length, m.model.spec.hidden / m.model.spec.heads]);
  });

  test('a left-padded row in a batch gets the logits it gets alone, prefill and decode', async () => {
    const a = [11, 12, 13, 14, 15, 16];
    const b = [200, 201];
    const alone = await run(m, [b], undefined, 0, [[1, 1]]);
    const batch = await run(m, [a, [0, 0, 0, 0, ...b]], undefined, 0, [a.map(() => 1), [0, 0, 0, 0, 1, 1]]);
    const tol = m.model.spec.kvDtype === 'float16' ? 2e-2 : 1e-4;
    expect(maxDiff(batch.logits[1][5], alone.logits[0][1])).toBeLessThan(tol);
    const nextAlone = await run(m, [[argmax(alone.logits[0][1])]], alone.present, 2, [[1, 1, 1]]);
    const nextBatch = await run(m, [[argmax(batch.logits[0][5])], [argmax(batch.logits[1][5])]], batch.present, 6, [Array(7).fill(1), [0, 0, 0, 0, 1, 1, 1]]);
    expect(maxDiff(nextBatch.logits[1][0], nextAlone.logits[0][0])).toBeLessThan(tol);
  });
});

test('the tokenizer loads in @huggingface/tokenizers, round-trips text, and knows the chat template\'s special tokens', () => {
  const model = writeDecoderModelDir(join(tmp.path, 'tokenizer'), {});
  const tokenizer = new Tokenizer(JSON.parse(readFileSync(join(model.dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(model.dir, 'tokenizer_config.json'), 'utf8')));
  const text = 'Hello, how are you today? Ünïcode ✓ 12345';
  const ids = tokenizer.encode(text).ids;
  expect(ids.length).toBeLessThan(new TextEncoder().encode(text).length);
  expect(tokenizer.decode(ids)).toBe(text);
  const config = JSON.parse(readFileSync(join(model.dir, 'tokenizer_config.json'), 'utf8'));
  const rendered = new Template(config.chat_template).render({ messages: [{ role: 'user', content: 'Hi' }], add_generation_prompt: true });
  expect(rendered).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  const chatIds = tokenizer.encode(rendered, { add_special_tokens: false }).ids;
  expect(chatIds[0]).toBe(model.vocab.get('<|im_start|>'));
  expect(chatIds).toContain(model.vocab.get('<|im_end|>'));
  expect(tokenizer.decode(chatIds, { skip_special_tokens: true })).toBe('user\nHi\nassistant\n');
});
