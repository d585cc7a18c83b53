// The generation engine's pure parts: sampling, stop strings, text from tokens one at a time, the batch's cache
// repacking and masks, the decoder layout read from a signature, request checking, and admission (with a stand-in for
// the worker thread).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDecoderModelDir } from '../../../examples/decoder-model.js';
import { RuntimeError } from '../../../runtime/errors.js';
import type { ModelSignature, TensorSpec } from '../../../runtime/signature.js';
import { GenerationEngine, type SequenceSink } from '../../../runtime/generate/engine.js';
import type { EngineThread } from '../../../runtime/generate/engine-thread.js';
import type { EngineRequest, StepEvents } from '../../../runtime/generate/engine-protocol.js';
import { packRows, stepMask, type KvGeometry } from '../../../runtime/generate/kv-cache.js';
import { decoderLayout, kvBytesPerToken, type DecoderLayout } from '../../../runtime/generate/layout.js';
import { ApiError } from '../../../runtime/generate/errors.js';
import { parseChat, parseCompletion, parseGenerate } from '../../../runtime/generate/requests.js';
import { argmax, createRng, halfsToFloats, sampleToken } from '../../../runtime/generate/sampling.js';
import { StopStrings } from '../../../runtime/generate/stop.js';
import { TextTokenizer } from '../../../runtime/generate/tokenizer.js';
import { tempDir } from '../../support/runtime-process.js';

const tmp = tempDir('modelplane-gen-units-');
afterAll(() => tmp.remove());

describe('sampling', () => {
  const row = Float32Array.from([0.1, 2.5, -1, 2.4, 0.3, 2.5]);

  test('temperature 0 and top_k 1 are greedy: the first of the largest', () => {
    expect(argmax(row)).toBe(1);
    expect(sampleToken(row, { temperature: 0, topP: 1, topK: 0 }, createRng(1))).toBe(1);
    expect(sampleToken(row, { temperature: 1, topP: 1, topK: 1 }, createRng(1))).toBe(1);
  });

  test('the same seed gives the same tokens; top_k and top_p keep to the most likely', () => {
    const draw = (seed: number, p = { temperature: 1, topP: 1, topK: 0 }, n = 200) => {
      const rng = createRng(seed);
      return Array.from({ length: n }, () => sampleToken(row, p, rng));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(new Set(draw(3, undefined, 5000))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    expect(new Set(draw(3, { temperature: 1, topP: 1, topK: 3 }, 5000))).toEqual(new Set([1, 3, 5]));
    // At temperature 0.2 tokens 1 and 5 (equal) hold 38% of the mass each, token 3 23%: top_p keeps the fewest that reach it.
    expect(new Set(draw(3, { temperature: 0.2, topP: 0.3, topK: 0 }))).toEqual(new Set([1]));
    expect(new Set(draw(3, { temperature: 0.2, topP: 0.5, topK: 0 }))).toEqual(new Set([1, 5]));
    expect(new Set(draw(3, { temperature: 0.2, topP: 0.9, topK: 0 }, 2000))).toEqual(new Set([1, 3, 5]));
  });

  test('sampling follows the softmax of logits over temperature', () => {
    const two = Float32Array.from([0, Math.log(3)]);
    const rng = createRng(42);
    let ones = 0;
    for (let i = 0; i < 20000; i++) ones += sampleToken(two, { temperature: 1, topP: 1, topK: 0 }, rng);
    expect(Math.abs(ones / 20000 - 0.75)).toBeLessThan(0.02);
  });

  test('top_p on a large vocabulary keeps exactly the nucleus', () => {
    const V = 10000;
    const big = new Float32Array(V).fill(-20);
    big[17] = 5;
    big[9000] = 4.5;
    big[123] = 4;
    const rng = createRng(5);
    const seen = new Set(Array.from({ length: 500 }, () => sampleToken(big, { temperature: 1, topP: 0.8, topK: 0 }, rng)));
    expect(seen).toEqual(new Set([17, 9000]));
  });

  test('float16 logits read as their float values', () => {
    expect([...halfsToFloats(Uint16Array.from([0x3c00, 0xc000, 0x0000, 0x7bff]))]).toEqual([1, -2, 0, 65504]);
  });
});

describe('stop strings', () => {
  test('text that may begin a stop string is held back; the answer ends before the first stop string', () => {
    const s = new StopStrings(['END', 'xyz']);
    expect(s.push('hello E')).toEqual({ emit: 'hello ', stopped: false });
    expect(s.push('N')).toEqual({ emit: '', stopped: false });
    expect(s.push('Z and x')).toEqual({ emit: 'ENZ and ', stopped: false });
    expect(s.push('yEND')).toEqual({ emit: 'xy', stopped: true });
  });

  test('of two stop strings, the earlier in the text wins; held text comes out when the answer ends otherwise', () => {
    expect(new StopStrings(['bb', 'a']).push('xxbba')).toEqual({ emit: 'xx', stopped: true });
    const s = new StopStrings(['END']);
    expect(s.push('fin E')).toEqual({ emit: 'fin ', stopped: false });
    expect(s.flush()).toBe('E');
  });
});

describe('tokens to text', () => {
  const model = writeDecoderModelDir(join(tmp.path, 'tok'));
  const tokenizer = new TextTokenizer(JSON.parse(readFileSync(join(model.dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(model.dir, 'tokenizer_config.json'), 'utf8')));

  test('one token at a time gives the whole text, a character split across byte tokens once it is whole', () => {
    const text = 'Grüße, 世界! The weather is sunny.';
    const ids = tokenizer.encode(text, false);
    const d = tokenizer.detokenizer();
    const pieces = ids.map((id) => d.push(id));
    expect(pieces.join('') + d.flush()).toBe(text);
    expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
    const byteTokens = ids.filter((id) => id < 256).length;
    expect(byteTokens).toBeGreaterThan(0);
  });

  test('special tokens are left out of the text; the chat template renders a conversation', () => {
    const ids = tokenizer.encode(tokenizer.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }]), false);
    expect(ids).toContain(model.vocab.get('<|im_start|>'));
    expect(tokenizer.decode(ids)).toBe('system\nBe brief.\nuser\nHi\nassistant\n');
  });
});

describe('the batch cache', () => {
  const g: KvGeometry = { kvHeads: 2, headDim: 2, tensors: 2, float16: false };
  /** A cache [rows, 2 heads, length, 2] whose element at (row, head, column, d) is row*1000 + head*100 + column*10 + d + 1. */
  const cache = (rows: number, length: number) => Array.from({ length: 2 }, (_, t) => Float32Array.from(
    { length: rows * 2 * length * 2 }, (_, i) => {
      const d = i % 2;
      const col = Math.floor(i / 2) % length;
      const head = Math.floor(i / (2 * length)) % 2;
      const row = Math.floor(i / (4 * length));
      return t * 10000 + row * 1000 + head * 100 + col * 10 + d + 1;
    }));
  const at = (data: Float32Array, length: number, row: number, head: number, col: number) => [data[((row * 2 + head) * length + col) * 2], data[((row * 2 + head) * length + col) * 2 + 1]];

  test('rows keep their last len columns, right-aligned, zero to their left, whatever cache they came from', () => {
    const a = cache(3, 4);
    const b = cache(1, 6);
    const packed = packRows(g, [{ data: a, length: 4, rows: [{ index: 0, len: 2 }, { index: 2, len: 4 }] }, { data: b, length: 6, rows: [{ index: 0, len: 5 }] }]);
    expect(packed.length).toBe(5);
    expect(packed.lens).toEqual([2, 4, 5]);
    const k = packed.data[0] as Float32Array;
    expect(at(k, 5, 0, 0, 0)).toEqual([0, 0]);
    expect(at(k, 5, 0, 0, 3)).toEqual([21, 22]);
    expect(at(k, 5, 0, 1, 4)).toEqual([131, 132]);
    expect(at(k, 5, 1, 1, 1)).toEqual([2101, 2102]);
    expect(at(k, 5, 2, 0, 0)).toEqual([11, 12]);
    expect(at((packed.data[1] as Float32Array), 5, 2, 1, 4)).toEqual([10151, 10152]);
  });

  test('a step\'s mask: zeros for each row\'s padding, ones for its tokens and the new ones', () => {
    expect([...stepMask([1, 3], 3, 2)].map(Number)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
  });
});

describe('the decoder layout', () => {
  const t = (name: string, ortType: string, shape: number[]): TensorSpec => ({ name, ortType: ortType as TensorSpec['ortType'], datatype: ortType === 'int64' ? 'INT64' : ortType === 'float16' ? 'FP16' : 'FP32', shape });
  const sig = (layers: number, kvType = 'float32', extra: TensorSpec[] = []): ModelSignature => ({
    inputs: [t('input_ids', 'int64', [-1, -1]), t('attention_mask', 'int64', [-1, -1]), ...Array.from({ length: layers }, (_, l) => ['key', 'value'].map((kv) => t(`past_key_values.${l}.${kv}`, kvType, [-1, 2, -1, 64]))).flat(), ...extra],
    outputs: [t('logits', 'float32', [-1, -1, 1000]), ...Array.from({ length: layers }, (_, l) => ['key', 'value'].map((kv) => t(`present.${l}.${kv}`, kvType, [-1, 2, -1, 64]))).flat()],
  });

  test('a decoder with past: layers, grouped-query heads, head dim and KV dtype from the signature and config.json', () => {
    expect(decoderLayout(sig(3, 'float16'), { num_attention_heads: 8 })).toEqual({
      layout: { layers: 3, heads: 8, kvHeads: 2, headDim: 64, kvDtype: 'float16', logitsDtype: 'float32', vocabSize: 1000, positionIds: false, useCacheBranch: false },
    });
    const layout = (decoderLayout(sig(3, 'float16'), { num_attention_heads: 8 }) as { layout: DecoderLayout }).layout;
    expect(kvBytesPerToken(layout)).toBe(3 * 2 * 2 * 64 * 2);
  });

  test.each([
    ['no past', { inputs: sig(1).inputs.slice(0, 2), outputs: sig(1).outputs.slice(0, 1) }, /no past_key_values/],
    ['another input', sig(1, 'float32', [t('token_type_ids', 'int64', [-1, -1])]), /input token_type_ids is not one/],
    ['no heads in config.json', sig(1), /num_attention_heads/],
  ])('not a decoder: %s', (_name, s, reason) => {
    const r = decoderLayout(s as ModelSignature, _name === 'no heads in config.json' ? {} : { num_attention_heads: 4 });
    expect('reason' in r && r.reason).toMatch(reason);
  });
});

describe('request bodies', () => {
  const refused = (fn: () => unknown): ApiError => {
    try {
      fn();
    } catch (err) {
      return err as ApiError;
    }
    throw new Error('not refused');
  };

  test.each([
    [() => parseCompletion({ model: 'm', prompt: 'x', n: 2 }), 'n', /only n=1/],
    [() => parseCompletion({ model: 'm', prompt: 'x', temperature: 'hot' }), 'temperature', /must be a number from 0 to 2, got "hot"/],
    [() => parseCompletion({ model: 'm', prompt: 'x', max_tokens: 0 }), 'max_tokens', /integer from 1/],
    [() => parseCompletion({ model: 'm', prompt: 'x', logprobs: 2 }), 'logprobs', /not supported/],
    [() => parseCompletion({ model: 'm', prompt: ['a', 'b'] }), 'prompt', /one prompt per request/],
    [() => parseCompletion({ model: 'm', prompt: 'x', repetition_penalty: 1.2 }), 'repetition_penalty', /Unrecognized request argument/],
    [() => parseCompletion({ model: 'm', prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', /at most 4/],
    [() => parseCompletion({ model: 'm', prompt: 'x', stream_options: { include_usage: true } }), 'stream_options', /only allowed when stream is true/],
    [() => parseCompletion({ prompt: 'x' }), 'model', /is required/],
    [() => parseChat({ model: 'm', messages: [] }), 'messages', /non-empty list/],
    [() => parseChat({ model: 'm', messages: [{ role: 'robot', content: 'x' }] }), 'messages[0].role', /must be one of/],
    [() => parseChat({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }), 'messages[0].content[0].type', /not supported/],
    [() => parseChat({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function' }] }), 'tools', /tool calling/],
    [() => parseChat({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 3, max_completion_tokens: 4 }), 'max_tokens', /not both/],
    [() => parseGenerate({ parameters: { max_tokens: 3 } }, false), 'text_input', /is required/],
    [() => parseGenerate({ text_input: 'x', parameters: { stream: true } }, false), 'parameters.stream', /generate_stream/],
    [() => parseGenerate({ text_input: 'x', max_tokens: 3, parameters: { max_tokens: 4 } }, false), 'max_tokens', /both/],
  ])('%#: refused naming %s', (fn, param, message) => {
    const e = refused(fn);
    expect(e).toBeInstanceOf(ApiError);
    expect({ status: e.status, param: e.param }).toEqual({ status: 400, param });
    expect(e.message).toMatch(message);
  });

  test('accepted bodies: prompts as text or token ids, text parts, Triton parameters at either level', () => {
    expect(parseCompletion({ model: 'm', prompt: [[1, 2, 3]], max_tokens: 5, n: 1, seed: 3, stop: 'x', top_k: 4, echo: false, logit_bias: {}, user: 'u' })).toMatchObject({ prompt: [1, 2, 3], maxTokens: 5, seed: 3, stop: ['x'], topK: 4 });
    expect(parseChat({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }], max_completion_tokens: 2, temperature: null }).messages).toEqual([{ role: 'user', content: 'ab' }]);
    expect(parseGenerate({ text_input: 'x', max_tokens: 2, parameters: { temperature: 0, stop: ['y'] }, bad_words: '' }, true)).toMatchObject({ textInput: 'x', maxTokens: 2, temperature: 0, stop: ['y'], stream: true, excludeInput: true });
  });
});

describe('admission', () => {
  /** A stand-in for the worker thread: records what it is sent, lets the test play its step events. */
  function fakeThread() {
    const sent: EngineRequest[] = [];
    const thread = { stats: new Float64Array(1), onStep: (_e: StepEvents) => {}, send: (m: EngineRequest) => sent.push(m) };
    return { thread, sent, step: (e: Partial<StepEvents>) => thread.onStep({ type: 'step', ids: [], tokens: [], ends: [], decodeRows: 0, ...e }) };
  }
  const layout: DecoderLayout = { layers: 1, heads: 2, kvHeads: 1, headDim: 4, kvDtype: 'float32', logitsDtype: 'float32', vocabSize: 10, positionIds: true, useCacheBranch: false };
  const perToken = kvBytesPerToken(layout);
  const sink = (log: string[], name: string): SequenceSink => ({ token: (t) => log.push(`${name}:${t}`), end: (e) => log.push(`${name}:${e}`) });
  const req = (prompt: number, maxTokens: number) => ({ prompt: Array(prompt).fill(1), maxTokens, sampling: { temperature: 0, topP: 1, topK: 0, seed: 0 }, ignoreEos: false, arrived: performance.now() });

  test('sequences wait for a row and for KV-cache room (the batch padded to its longest), in arrival order', () => {
    const f = fakeThread();
    const engine = new GenerationEngine(f.thread as unknown as EngineThread, layout, { maxNumSeqs: 2, maxModelLen: 100, maxKvCacheBytes: 60 * perToken, maxQueueSize: 4 });
    const log: string[] = [];
    engine.submit(req(5, 25), sink(log, 'a'));
    engine.submit(req(5, 35), sink(log, 'b')); // 2 x 40 tokens do not fit 60
    engine.submit(req(2, 3), sink(log, 'c')); // a and c would fit, but c waits behind b
    expect(f.sent.map((m) => m.type === 'add' && m.id)).toEqual([1]);
    expect({ running: engine.running, waiting: engine.waiting }).toEqual({ running: 1, waiting: 2 });
    f.step({ ids: [1], tokens: [7], ends: [{ id: 1, end: 'length' }] });
    expect(log).toEqual(['a:7', 'a:length']);
    // b runs; c would make two rows padded to b's 40 tokens: it waits for b.
    expect(f.sent.map((m) => m.type === 'add' && m.id)).toEqual([1, 2]);
    expect({ running: engine.running, waiting: engine.waiting }).toEqual({ running: 1, waiting: 1 });
    f.step({ ids: [2], tokens: [3], ends: [{ id: 2, end: 'eos' }] });
    expect(f.sent.map((m) => m.type === 'add' && m.id)).toEqual([1, 2, 3]);
    expect(log).toEqual(['a:7', 'a:length', 'b:3', 'b:eos']);
  });

  test('a full wait queue refuses with 503 and Retry-After; a cancelled sequence holds its row until the worker lets it go', () => {
    const f = fakeThread();
    const engine = new GenerationEngine(f.thread as unknown as EngineThread, layout, { maxNumSeqs: 1, maxModelLen: 100, maxKvCacheBytes: 1000 * perToken, maxQueueSize: 1 });
    const log: string[] = [];
    const a = engine.submit(req(1, 5), sink(log, 'a'));
    const b = engine.submit(req(1, 5), sink(log, 'b'));
    let refusal: RuntimeError | undefined;
    try {
      engine.submit(req(1, 5), sink(log, 'c'));
    } catch (err) {
      refusal = err as RuntimeError;
    }
    expect({ status: refusal?.status, retry: refusal?.headers['Retry-After'] }).toEqual({ status: 503, retry: '1' });
    b.cancel();
    expect(engine.waiting).toBe(0);
    a.cancel();
    expect(f.sent.at(-1)).toEqual({ type: 'cancel', id: 1 });
    f.step({ ids: [1], tokens: [4] });
    expect(engine.running).toBe(1);
    f.step({ ends: [{ id: 1, end: 'cancelled' }] });
    expect(engine.running).toBe(0);
    expect(log).toEqual([]);
  });

  test('what could never run is said before it is queued: past max_model_len, or a KV cache past the budget alone', () => {
    const engine = new GenerationEngine(fakeThread().thread as unknown as EngineThread, layout, { maxNumSeqs: 1, maxModelLen: 100, maxKvCacheBytes: 50 * perToken, maxQueueSize: 1 });
    expect(engine.tooLarge(100, 1)).toMatchObject({ field: 'prompt', message: expect.stringMatching(/max_model_len\) is 100/) });
    expect(engine.tooLarge(10, 91)).toMatchObject({ field: 'max_tokens', message: expect.stringMatching(/ask for at most 90/) });
    expect(engine.tooLarge(10, 41)).toMatchObject({ field: 'max_tokens', message: expect.stringMatching(/--max-kv-cache-bytes; ask for at most 40/) });
    expect(engine.tooLarge(10, 40)).toBeUndefined();
  });
});
