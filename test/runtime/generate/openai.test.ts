// The official `openai` client against a real `modelplane serve` of a generative model: the model list, completions and
// chat completions whole and streamed (the same text either way), usage and finish reasons, stop strings, seeded
// sampling that reproduces whatever else shares the batch, and errors the client raises as OpenAI's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Tokenizer } from '@huggingface/tokenizers';
import { startRuntime, tempDir, type RuntimeProcess } from '../../support/runtime-process.js';
import { decoderDir } from './support.js';

const tmp = tempDir('modelplane-gen-openai-');
let rt: RuntimeProcess;
let client: OpenAI;
let tokenizer: Tokenizer;

beforeAll(async () => {
  const model = decoderDir(tmp.path, 'tiny');
  tokenizer = new Tokenizer(JSON.parse(readFileSync(join(model.dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(model.dir, 'tokenizer_config.json'), 'utf8')));
  rt = await startRuntime(['--model', model.dir, '--log-level', 'warn']);
  client = new OpenAI({ baseURL: `${rt.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
});
afterAll(async () => {
  await rt?.stop();
  tmp.remove();
});

const PROMPT = 'Tell me a story about a cat who lives';

test('the model list and the model metadata name the generative model and its attention layout', async () => {
  const list = await client.models.list();
  expect(list.data).toEqual([{ id: 'tiny', object: 'model', created: expect.any(Number), owned_by: 'modelplane', max_model_len: 2048 }]);
  expect((await client.models.retrieve('tiny')).id).toBe('tiny');
  const meta = await (await fetch(`${rt.url}/v2/models/tiny`)).json();
  expect(meta).toMatchObject({
    name: 'tiny',
    generative: true,
    generation: { layers: 2, attention_heads: 4, kv_heads: 2, head_dim: 16, kv_dtype: 'float32', max_model_len: 2048, max_num_seqs: 32 },
  });
});

test('a completion, whole and streamed: the same text, usage counting the prompt\'s tokens, finish_reason length', async () => {
  const whole = await client.completions.create({ model: 'tiny', prompt: PROMPT, max_tokens: 20, temperature: 0 });
  const promptTokens = tokenizer.encode(PROMPT).ids.length;
  expect(whole.object).toBe('text_completion');
  expect(whole.choices).toHaveLength(1);
  expect(whole.choices[0].finish_reason).toBe('length');
  expect(whole.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 20, total_tokens: promptTokens + 20 });
  const stream = await client.completions.create({ model: 'tiny', prompt: PROMPT, max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | null | undefined;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    for (const c of chunk.choices) {
      text += c.text;
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  expect(chunks).toBeGreaterThan(5);
  expect(text).toBe(whole.choices[0].text);
  expect(finish).toBe('length');
  expect(usage).toEqual(whole.usage);
});

test('a chat completion, whole and streamed: the assistant\'s role first, then the same content', async () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'system', content: 'You are brief.' }, { role: 'user', content: 'What is the weather like?' }];
  const whole = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 16, temperature: 0 });
  expect(whole.object).toBe('chat.completion');
  expect(whole.choices[0].message.role).toBe('assistant');
  const rendered = '<|im_start|>system\nYou are brief.<|im_end|>\n<|im_start|>user\nWhat is the weather like?<|im_end|>\n<|im_start|>assistant\n';
  expect(whole.usage!.prompt_tokens).toBe(tokenizer.encode(rendered, { add_special_tokens: false }).ids.length);
  const stream = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } });
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  expect(chunks[0].choices[0].delta.role).toBe('assistant');
  expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id)).toBe(true);
  expect(chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('')).toBe(whole.choices[0].message.content);
  expect(chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean)).toEqual([whole.choices[0].finish_reason]);
  expect(chunks[chunks.length - 1]).toMatchObject({ choices: [], usage: whole.usage });
});

test('a stop string ends the text before it, finish_reason stop, and no streamed chunk shows any of it', async () => {
  const full = (await client.completions.create({ model: 'tiny', prompt: PROMPT, max_tokens: 40, temperature: 0 })).choices[0].text;
  // A stop string from the middle of the greedy text, at its first occurrence.
  let at = -1;
  for (let k = 3; k + 2 < full.length; k++) {
    const s = full.slice(k, k + 2);
    if (!s.includes('\uFFFD') && full.indexOf(s) === k) {
      at = k;
      break;
    }
  }
  expect(at).toBeGreaterThan(0);
  const stop = full.slice(at, at + 2);
  const whole = await client.completions.create({ model: 'tiny', prompt: PROMPT, max_tokens: 40, temperature: 0, stop: [stop, 'never-produced'] });
  expect(whole.choices[0]).toMatchObject({ text: full.slice(0, at), finish_reason: 'stop' });
  expect(whole.usage!.completion_tokens).toBeLessThan(40);
  const stream = await client.completions.create({ model: 'tiny', prompt: PROMPT, max_tokens: 40, temperature: 0, stop, stream: true });
  const pieces: string[] = [];
  let finish: string | null = null;
  for await (const chunk of stream) for (const c of chunk.choices) {
    pieces.push(c.text);
    finish = c.finish_reason ?? finish;
  }
  expect(pieces.join('')).toBe(full.slice(0, at));
  expect(pieces.some((p) => p.includes(stop))).toBe(false);
  expect(finish).toBe('stop');
});

test('a seed reproduces a sampled completion, alone or batched with other streams; another seed does not', async () => {
  const ask = (seed: number, stream = false) => {
    const params = { model: 'tiny', prompt: PROMPT, max_tokens: 32, temperature: 1.3, top_p: 0.95, seed };
    if (!stream) return client.completions.create(params).then((r) => r.choices[0].text);
    return client.completions.create({ ...params, stream: true }).then(async (s) => {
      let text = '';
      for await (const chunk of s) text += chunk.choices.map((c) => c.text).join('');
      return text;
    });
  };
  const alone = await ask(1234);
  expect(await ask(1234)).toBe(alone);
  const [batched, , streamed] = await Promise.all([ask(1234), ask(5), ask(1234, true), ask(6), client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 30, temperature: 0 })]);
  expect(batched).toBe(alone);
  expect(streamed).toBe(alone);
  expect(await ask(4321)).not.toBe(alone);
});

test('refusals arrive as the client\'s errors, in OpenAI\'s shape, naming the field', async () => {
  const refused = async (p: Promise<unknown>) => p.then(() => { throw new Error('not refused'); }, (err: unknown) => err as InstanceType<typeof OpenAI.APIError>);
  const n2 = await refused(client.completions.create({ model: 'tiny', prompt: 'x', n: 2 }));
  expect(n2).toBeInstanceOf(OpenAI.BadRequestError);
  expect({ status: n2.status, param: n2.param, type: n2.type }).toEqual({ status: 400, param: 'n', type: 'invalid_request_error' });
  const unknown = await refused(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }));
  expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
  expect({ code: unknown.code, param: unknown.param }).toEqual({ code: 'model_not_found', param: 'model' });
  const long = await refused(client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 5000 }));
  expect({ status: long.status, param: long.param, code: long.code }).toEqual({ status: 400, param: 'max_tokens', code: 'context_length_exceeded' });
  expect(long.message).toMatch(/max_model_len\) of 2048 tokens/);
  const chatLong = await refused(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 5000 }));
  expect({ status: chatLong.status, param: chatLong.param }).toEqual({ status: 400, param: 'max_completion_tokens' });
});
