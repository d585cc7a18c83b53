// The generation routes over plain HTTP, as curl sees them: server-sent events read off the socket, Triton's generate
// extension beside OpenAI's API, bad bodies refused in each API's error shape naming the field, the Open Inference
// Protocol's infer on the same model, and a long prompt prefilled in chunks between the running streams' tokens.
import { infer, startRuntime, tempDir, type RuntimeProcess } from '../../support/runtime-process.js';
import { decoderDir, postJson, readEvents } from './support.js';

const tmp = tempDir('modelplane-gen-http-');
let rt: RuntimeProcess;

beforeAll(async () => {
  const model = decoderDir(tmp.path, 'tiny', { maxPositions: 4096 });
  rt = await startRuntime(['--model', model.dir, '--log-level', 'warn']);
});
afterAll(async () => {
  await rt?.stop();
  tmp.remove();
});

const greedy = { max_tokens: 12, temperature: 0 };

test('a streamed completion is server-sent events: a JSON chunk per data line, then data: [DONE]', async () => {
  const res = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'Hello, how are you', stream: true, ...greedy });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  expect(res.headers.get('cache-control')).toBe('no-cache');
  const events = await readEvents(res);
  expect(events[events.length - 1]).toBe('[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  for (const c of chunks) expect(c).toMatchObject({ id: chunks[0].id, object: 'text_completion', created: expect.any(Number), model: 'tiny', choices: [{ index: 0, logprobs: null }] });
  expect(chunks[0].id).toMatch(/^cmpl-/);
  expect(chunks.map((c) => c.choices[0].finish_reason)).toEqual([...Array(chunks.length - 1).fill(null), 'length']);
  const whole = await (await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'Hello, how are you', ...greedy })).json();
  expect(chunks.map((c) => c.choices[0].text).join('')).toBe(whole.choices[0].text);
});

test('Triton\'s generate extension: text_input and parameters in, text_output out; generate_stream gives it in pieces', async () => {
  const completion = await (await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'Hello', ...greedy })).json();
  const res = await postJson(`${rt.url}/v2/models/tiny/generate`, { text_input: 'Hello', parameters: greedy });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ model_name: 'tiny', model_version: '1', text_output: completion.choices[0].text, finish_reason: 'length' });
  // Sampling fields at the top level, as TensorRT-LLM's examples send them, and the versioned path.
  const versioned = await (await postJson(`${rt.url}/v2/models/tiny/versions/1/generate`, { text_input: 'Hello', ...greedy, id: 'r1', exclude_input_in_output: false })).json();
  expect(versioned).toMatchObject({ id: 'r1', text_output: `Hello${completion.choices[0].text}` });
  const stream = await postJson(`${rt.url}/v2/models/tiny/generate_stream`, { text_input: 'Hello', parameters: greedy });
  expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events = (await readEvents(stream)).map((e) => JSON.parse(e));
  expect(events.length).toBeGreaterThan(3);
  for (const e of events) expect(e).toMatchObject({ model_name: 'tiny', model_version: '1', text_output: expect.any(String) });
  expect(events.map((e) => e.text_output).join('')).toBe(completion.choices[0].text);
  expect(events[events.length - 1].finish_reason).toBe('length');
});

test('the model still answers the Open Inference Protocol\'s infer, on the same session, between decode steps', async () => {
  const r = await infer(rt.url, 'tiny', {
    inputs: [
      { name: 'input_ids', datatype: 'INT64', shape: [1, 3], data: [5, 6, 7] },
      { name: 'attention_mask', datatype: 'INT64', shape: [1, 3], data: [1, 1, 1] },
      { name: 'position_ids', datatype: 'INT64', shape: [1, 3], data: [0, 1, 2] },
      ...[0, 1].flatMap((l) => ['key', 'value'].map((kv) => ({ name: `past_key_values.${l}.${kv}`, datatype: 'FP32', shape: [1, 2, 0, 16], data: [] }))),
    ],
    outputs: [{ name: 'logits' }, { name: 'present.1.value' }],
  });
  expect(r.status).toBe(200);
  expect(r.json.outputs.map((o: { name: string; shape: number[] }) => [o.name, o.shape])).toEqual([['logits', [1, 3, 357]], ['present.1.value', [1, 2, 3, 16]]]);
});

test('a long prompt is prefilled in chunks between decode steps: a running stream keeps getting tokens meanwhile', async () => {
  // A stream that runs throughout, then a prompt of about 3000 tokens (12 chunks of 256).
  const runner = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'The quick brown fox', max_tokens: 3000, temperature: 0, ignore_eos: true, stream: true });
  let runnerTokens = 0;
  let atLongFirstToken = -1;
  let firstSeen: () => void;
  const runnerStarted = new Promise<void>((r) => (firstSeen = r));
  const reading = readEvents(runner, (data) => {
    if (data !== '[DONE]') runnerTokens++;
    if (runnerTokens === 5) firstSeen();
    return atLongFirstToken === -1 || runnerTokens < atLongFirstToken + 3;
  });
  await runnerStarted;
  const longPrompt = Array.from({ length: 3000 }, (_, i) => (i * 37) % 350);
  const before = runnerTokens;
  const long = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: longPrompt, max_tokens: 2, temperature: 0, stream: true });
  await readEvents(long, () => {
    if (atLongFirstToken === -1) atLongFirstToken = runnerTokens;
    return false;
  });
  await reading;
  // Each of the 12 chunks shares an iteration with a decode step of the running stream.
  expect(atLongFirstToken - before).toBeGreaterThanOrEqual(8);
});

type Case = [string, string, string | object, number, string | null, RegExp];

describe('bad bodies: OpenAI\'s error shape, naming the field', () => {
  test.each<Case>([
    ['/v1/completions', 'not JSON', 'Hello', 400, null, /not valid JSON/],
    ['/v1/completions', 'an array', [1, 2], 400, null, /must be a JSON object, got an array/],
    ['/v1/completions', 'prompt of the wrong type', { model: 'tiny', prompt: 5 }, 400, 'prompt', /must be a string, a list of token ids/],
    ['/v1/completions', 'max_tokens as a string', { model: 'tiny', prompt: 'x', max_tokens: '5' }, 400, 'max_tokens', /must be an integer from 1, got "5"/],
    ['/v1/completions', 'n=2', { model: 'tiny', prompt: 'x', n: 2 }, 400, 'n', /only n=1 is supported/],
    ['/v1/completions', 'stream as a string', { model: 'tiny', prompt: 'x', stream: 'yes' }, 400, 'stream', /must be true or false/],
    ['/v1/completions', 'a token outside the vocabulary', { model: 'tiny', prompt: [1, 99999] }, 400, 'prompt', /token id 99999 is outside the vocabulary \(0 to 356\)/],
    ['/v1/completions', 'an empty prompt', { model: 'tiny', prompt: '' }, 400, 'prompt', /is empty/],
    ['/v1/completions', 'an unknown field', { model: 'tiny', prompt: 'x', mirostat: 2 }, 400, 'mirostat', /Unrecognized request argument supplied: mirostat/],
    ['/v1/chat/completions', 'messages as a string', { model: 'tiny', messages: 'hi' }, 400, 'messages', /non-empty list of messages/],
    ['/v1/chat/completions', 'a message without content', { model: 'tiny', messages: [{ role: 'user' }] }, 400, 'messages[0].content', /is required/],
    ['/v1/chat/completions', 'an unknown model', { model: 'other', messages: [{ role: 'user', content: 'x' }] }, 404, 'model', /The model 'other' does not exist/],
  ])('%s: %s', async (path, _name, body, status, param, message) => {
    const res = await postJson(`${rt.url}${path}`, body);
    expect(res.status).toBe(status);
    const json = await res.json();
    expect(Object.keys(json)).toEqual(['error']);
    expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect({ param: json.error.param, type: json.error.type }).toEqual({ param, type: status === 404 ? 'not_found_error' : 'invalid_request_error' });
    expect(json.error.message).toMatch(message);
  });

  test('GET on a POST route is 405; the model routes are GET', async () => {
    const res = await fetch(`${rt.url}/v1/chat/completions`);
    expect(res.status).toBe(405);
    expect((await res.json()).error.code).toBe('method_not_allowed');
    expect((await postJson(`${rt.url}/v1/models`, {})).status).toBe(405);
    expect((await fetch(`${rt.url}/v1/models/nope`)).status).toBe(404);
  });
});

describe('bad bodies to Triton\'s generate: the protocol\'s error shape', () => {
  test.each<[string, string | object, number, RegExp]>([
    ['/v2/models/tiny/generate', 'not JSON', 400, /not valid JSON/],
    ['/v2/models/tiny/generate', {}, 400, /text_input: is required/],
    ['/v2/models/tiny/generate', { text_input: 'x', parameters: { temperature: -1 } }, 400, /parameters.temperature: must be a number from 0 to 2/],
    ['/v2/models/tiny/generate', { text_input: 'x', parameters: { stream: true } }, 400, /use \/generate_stream/],
    ['/v2/models/nope/generate', { text_input: 'x' }, 404, /unknown model: 'nope'/],
    ['/v2/models/tiny/versions/2/generate_stream', { text_input: 'x' }, 404, /has no version "2"/],
  ])('%s %j', async (path, body, status, message) => {
    const res = await postJson(`${rt.url}${path}`, body);
    expect(res.status).toBe(status);
    const json = await res.json();
    expect(json.error).toMatch(message);
    expect(typeof json.reason).toBe('string');
  });
});
