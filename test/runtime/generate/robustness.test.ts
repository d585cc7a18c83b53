// Requests as users get them wrong, against a real `modelplane serve` of a generative model, through plain HTTP and the
// official `openai` client: bytes that are not UTF-8 and lone surrogates in JSON strings, prompts past --max-model-len,
// max_tokens of 0, below 0 or far past the context, bodies past --max-body-bytes, content-part arrays in chat messages,
// and stop strings that begin in one token and end in another while streaming. Each is answered in the API's own error
// shape, naming the field, and the client raises the error class its status calls for.
import OpenAI from 'openai';
import { request } from 'node:http';
import { startRuntime, tempDir, type RuntimeProcess } from '../../support/runtime-process.js';
import { decoderDir, postJson, readEvents } from './support.js';

const tmp = tempDir('modelplane-gen-robust-');
let rt: RuntimeProcess;
let client: OpenAI;
const MAX_BODY = 64 * 1024;

beforeAll(async () => {
  const model = decoderDir(tmp.path, 'tiny', { maxPositions: 512 });
  rt = await startRuntime(['--model', model.dir, '--max-model-len', '256', '--max-body-bytes', String(MAX_BODY), '--log-level', 'warn']);
  client = new OpenAI({ baseURL: `${rt.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
});
afterAll(async () => {
  await rt?.stop();
  tmp.remove();
});

type ClientError = InstanceType<typeof OpenAI.APIError>;
const refused = (p: Promise<unknown>): Promise<ClientError> => p.then(() => { throw new Error('not refused'); }, (err: unknown) => err as ClientError);
const errorOf = (e: ClientError) => ({ status: e.status, type: e.type, param: e.param, code: e.code });

async function openAiError(path: string, body: string | Buffer): Promise<{ status: number; error: Record<string, unknown> }> {
  const res = await fetch(`${rt.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  const json = await res.json();
  expect(Object.keys(json)).toEqual(['error']);
  return { status: res.status, error: json.error };
}

describe('text that is not text', () => {
  test('a body that is not UTF-8 is refused naming the byte and its offset, never read as replacement characters', async () => {
    const body = Buffer.concat([Buffer.from('{"model":"tiny","prompt":"ab'), Buffer.from([0xff, 0xfe]), Buffer.from('","max_tokens":2}')]);
    const r = await openAiError('/v1/completions', body);
    expect(r.status).toBe(400);
    expect(r.error).toEqual({ message: expect.stringMatching(/^the request body is not valid UTF-8: byte 0xff at offset 28 /), type: 'invalid_request_error', param: null, code: 'invalid_utf8' });
    // A character cut short, and a surrogate encoded in UTF-8 (CESU-8), are not UTF-8 either.
    const cut = await openAiError('/v1/chat/completions', Buffer.concat([Buffer.from('{"model":"tiny","messages":[{"role":"user","content":"\u00e9'), Buffer.from([0xe2, 0x82]), Buffer.from('"}]}')]));
    expect(cut.error.message).toMatch(/byte 0xe2 at offset 56/);
    const cesu = await openAiError('/v1/completions', Buffer.concat([Buffer.from('{"model":"tiny","prompt":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]));
    expect(cesu.error.message).toMatch(/byte 0xed at offset 26/);
    const triton = await fetch(`${rt.url}/v2/models/tiny/generate`, { method: 'POST', body: Buffer.concat([Buffer.from('{"text_input":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]) });
    expect(triton.status).toBe(400);
    expect(await triton.json()).toEqual({ error: expect.stringMatching(/not valid UTF-8: byte 0xc0 at offset 15/), reason: 'InvalidRequest' });
  });

  test.each([
    ['/v1/completions', '{"model":"tiny","prompt":"a\\ud800b"}', 'prompt', /^prompt: has a lone UTF-16 surrogate \(\\ud800 at character 1\)/],
    ['/v1/completions', '{"model":"tiny","prompt":["\\udc00"]}', 'prompt', /\\udc00 at character 0/],
    ['/v1/completions', '{"model":"tiny","prompt":"ok","stop":["x","y\\udbff"]}', 'stop[1]', /lone UTF-16 surrogate/],
    ['/v1/chat/completions', '{"model":"tiny","messages":[{"role":"user","content":"hi \\ud83d"}]}', 'messages[0].content', /\\ud83d at character 3/],
    ['/v1/chat/completions', '{"model":"tiny","messages":[{"role":"user","content":[{"type":"text","text":"\\ude00!"}]}]}', 'messages[0].content[0].text', /\\ude00 at character 0/],
  ])('%s %s: a lone surrogate is refused naming %s', async (path, body, param, message) => {
    const r = await openAiError(path, body);
    expect(r.status).toBe(400);
    expect(r.error).toMatchObject({ param, type: 'invalid_request_error', code: 'invalid_text', message: expect.stringMatching(message) });
  });

  test('a surrogate pair is a character: escaped or not, the same prompt; Triton refuses a lone one in its own shape', async () => {
    const escaped = await (await postJson(`${rt.url}/v1/completions`, '{"model":"tiny","prompt":"smile \\ud83d\\ude00","max_tokens":4,"temperature":0}')).json();
    const literal = await (await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'smile \u{1F600}', max_tokens: 4, temperature: 0 })).json();
    expect(escaped.usage).toEqual(literal.usage);
    expect(escaped.choices[0].text).toBe(literal.choices[0].text);
    const triton = await postJson(`${rt.url}/v2/models/tiny/generate`, '{"text_input":"\\ud800"}');
    expect(triton.status).toBe(400);
    expect((await triton.json()).error).toMatch(/^text_input: has a lone UTF-16 surrogate/);
    // The openai client sends a JavaScript string with a lone surrogate as JSON's escape, and gets the refusal.
    const e = await refused(client.completions.create({ model: 'tiny', prompt: 'broken \ud800 text' }));
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(errorOf(e)).toEqual({ status: 400, type: 'invalid_request_error', param: 'prompt', code: 'invalid_text' });
  });
});

describe('lengths', () => {
  test('a prompt past --max-model-len: 400 context_length_exceeded naming prompt, or messages, with the limit', async () => {
    const long = await refused(client.completions.create({ model: 'tiny', prompt: Array(300).fill(7), max_tokens: 1 }));
    expect(long).toBeInstanceOf(OpenAI.BadRequestError);
    expect(errorOf(long)).toEqual({ status: 400, type: 'invalid_request_error', param: 'prompt', code: 'context_length_exceeded' });
    expect(long.message).toMatch(/the prompt is 300 tokens; this model's maximum context length \(max_model_len\) is 256 tokens/);
    // Without max_tokens too: the prompt is what is too long.
    expect(errorOf(await refused(client.completions.create({ model: 'tiny', prompt: Array(256).fill(7) })))).toMatchObject({ param: 'prompt', code: 'context_length_exceeded' });
    const chat = await refused(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'a '.repeat(300) }] }));
    expect(errorOf(chat)).toEqual({ status: 400, type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' });
    const triton = await postJson(`${rt.url}/v2/models/tiny/generate`, { text_input: 'a '.repeat(300) });
    expect(triton.status).toBe(400);
    expect(await triton.json()).toEqual({ error: expect.stringMatching(/maximum context length \(max_model_len\) is 256 tokens/), reason: 'InvalidRequest' });
  });

  test.each<[string, Record<string, unknown>, string, string | null, RegExp]>([
    ['max_tokens 0', { prompt: 'x', max_tokens: 0 }, 'max_tokens', null, /^max_tokens: must be an integer from 1, got 0$/],
    ['max_tokens below 0', { prompt: 'x', max_tokens: -5 }, 'max_tokens', null, /got -5$/],
    ['max_tokens not whole', { prompt: 'x', max_tokens: 2.5 }, 'max_tokens', null, /must be an integer from 1, got 2.5$/],
    ['max_tokens past the context', { prompt: 'x', max_tokens: 100000 }, 'max_tokens', 'context_length_exceeded', /max_tokens 100000 and the prompt's 1 tokens exceed .* of 256 tokens; ask for at most 255$/],
    ['max_tokens past any integer', { prompt: 'x', max_tokens: 1e20 }, 'max_tokens', 'context_length_exceeded', /max_tokens 100000000000000000000 .*ask for at most 255$/],
    ['max_tokens past a double', { prompt: 'x', max_tokens: '1e999' }, 'max_tokens', null, /must be an integer from 1, got Infinity$/],
  ])('%s: 400 naming the field', async (_name, fields, param, code, message) => {
    // 1e999 is JSON that JSON.parse reads as Infinity: sent as written.
    const body = JSON.stringify({ model: 'tiny', ...fields }).replace('"1e999"', '1e999');
    const r = await openAiError('/v1/completions', body);
    expect(r.status).toBe(400);
    expect(r.error).toMatchObject({ param, code, type: 'invalid_request_error', message: expect.stringMatching(message) });
  });

  test('max_completion_tokens is named as the chat sent it; the client raises BadRequestError', async () => {
    const zero = await refused(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 0 }));
    expect(zero).toBeInstanceOf(OpenAI.BadRequestError);
    expect(errorOf(zero)).toEqual({ status: 400, type: 'invalid_request_error', param: 'max_completion_tokens', code: null });
    const huge = await refused(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 2 ** 60 }));
    expect(errorOf(huge)).toEqual({ status: 400, type: 'invalid_request_error', param: 'max_completion_tokens', code: 'context_length_exceeded' });
  });

  test('a body past --max-body-bytes: 413 body_too_large, declared or streamed, in each API\'s shape; the connection closes', async () => {
    const big = JSON.stringify({ model: 'tiny', prompt: 'x'.repeat(MAX_BODY) });
    const declared = await fetch(`${rt.url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: big });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: { message: expect.stringMatching(/exceeds the limit of 65536 bytes \(--max-body-bytes\)/), type: 'invalid_request_error', param: null, code: 'body_too_large' } });
    // Sent in chunks, with no Content-Length: refused once the limit is passed, before the rest arrives.
    const chunked = await new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
      const req = request(`${rt.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text, connection: res.headers.connection }));
      });
      req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
      for (let i = 0; i < 8; i++) req.write('x'.repeat(16 * 1024));
      req.end();
    });
    expect(chunked.status).toBe(413);
    expect(chunked.connection).toBe('close');
    expect(JSON.parse(chunked.body).error.code).toBe('body_too_large');
    // The openai client has no class of its own for 413: an APIError with the status, type and code.
    const e = await refused(client.completions.create({ model: 'tiny', prompt: 'x'.repeat(MAX_BODY) }));
    expect(e).toBeInstanceOf(OpenAI.APIError);
    expect(errorOf(e)).toEqual({ status: 413, type: 'invalid_request_error', param: null, code: 'body_too_large' });
    const triton = await postJson(`${rt.url}/v2/models/tiny/generate`, { text_input: 'x'.repeat(MAX_BODY) });
    expect(triton.status).toBe(413);
    expect((await triton.json()).reason).toBe('BodyTooLarge');
  });
});

describe('chat content as OpenAI\'s content parts', () => {
  test('text parts are the text they hold, joined; another part type is refused naming it; other content is refused', async () => {
    const ask = (content: OpenAI.ChatCompletionUserMessageParam['content']) => client.chat.completions.create({ model: 'tiny', messages: [{ role: 'system', content: [{ type: 'text', text: 'Be brief.' }] }, { role: 'user', content }], max_tokens: 8, temperature: 0 });
    const plain = await ask('What is the weather like?');
    const parts = await ask([{ type: 'text', text: 'What is ' }, { type: 'text', text: 'the weather like?' }]);
    expect(parts.choices[0].message.content).toBe(plain.choices[0].message.content);
    expect(parts.usage).toEqual(plain.usage);
    const image = await refused(ask([{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }]));
    expect(image).toBeInstanceOf(OpenAI.BadRequestError);
    expect(errorOf(image)).toEqual({ status: 400, type: 'invalid_request_error', param: 'messages[1].content[1].type', code: 'unsupported_parameter' });
    expect(image.message).toMatch(/content of type "image_url" \(only text\) is not supported/);
    for (const [content, param, message] of [
      [42, 'messages[0].content', /must be a string or a list of text parts, got 42/],
      [[{ type: 'text' }], 'messages[0].content[0].text', /is required/],
      [[{ type: 'text', text: 'a', cache_control: {} }], 'messages[0].content[0].cache_control', /Unrecognized request argument/],
      [['just a string'], 'messages[0].content[0]', /must be an object/],
    ] as const) {
      const r = await openAiError('/v1/chat/completions', JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content }] }));
      expect({ status: r.status, param: r.error.param }).toEqual({ status: 400, param });
      expect(r.error.message).toMatch(message);
    }
  });
});

describe('stop strings across token boundaries, streamed', () => {
  const PROMPT = 'Tell me a story about a cat who lives';

  /** The greedy text's deltas as a stream gives them, each with its tokens. */
  async function deltas(maxTokens: number): Promise<{ text: string; tokens: number }[]> {
    const res = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: PROMPT, max_tokens: maxTokens, temperature: 0, stream: true, return_token_ids: true });
    const events = (await readEvents(res)).filter((e) => e !== '[DONE]').map((e) => JSON.parse(e));
    return events.filter((e) => e.choices[0].finish_reason === null && e.choices[0].token_ids?.length).map((e) => ({ text: e.choices[0].text, tokens: e.choices[0].token_ids.length }));
  }

  async function streamWithStop(stop: string): Promise<{ pieces: string[]; finish: string | null }> {
    const stream = await client.completions.create({ model: 'tiny', prompt: PROMPT, max_tokens: 60, temperature: 0, stop: [stop], stream: true });
    const pieces: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) for (const c of chunk.choices) {
      if (c.text) pieces.push(c.text);
      finish = c.finish_reason ?? finish;
    }
    return { pieces, finish };
  }

  test('a stop string made of the end of one token and the start of the next, or spanning three, ends the stream before it', async () => {
    const ds = await deltas(60);
    const full = ds.map((d) => d.text).join('');
    const clean = (d: { text: string; tokens: number }) => d.tokens === 1 && d.text.length >= 1 && !d.text.includes('\uFFFD');
    const starts: number[] = [];
    ds.reduce((at, d) => (starts.push(at), at + d.text.length), 0);
    // Stops that begin in token k and end in token k+1 (two tokens) or in token k+2 (three), first seen there.
    const spanning = (span: 2 | 3) => {
      for (let k = 2; k + span <= ds.length; k++) {
        if (!ds.slice(k, k + span).every(clean)) continue;
        const from = starts[k + 1] - 1;
        const to = starts[k + span - 1] + 1;
        const stop = full.slice(from, to);
        if (full.indexOf(stop) === from) return { stop, from };
      }
      return undefined;
    };
    const cases = [spanning(2), spanning(3)].filter((c): c is { stop: string; from: number } => c !== undefined);
    expect(cases.length).toBe(2);
    for (const { stop, from } of cases) {
      const { pieces, finish } = await streamWithStop(stop);
      expect({ stop, text: pieces.join(''), finish }).toEqual({ stop, text: full.slice(0, from), finish: 'stop' });
      // Streamed in pieces, none showing the start of the stop string ahead of its end.
      expect(pieces.length).toBeGreaterThan(1);
      const whole = await client.completions.create({ model: 'tiny', prompt: PROMPT, max_tokens: 60, temperature: 0, stop });
      expect(whole.choices[0]).toMatchObject({ text: full.slice(0, from), finish_reason: 'stop' });
    }
  });
});
