// The engine's bounds on a real server: one sequence at a time (--max-num-seqs 1) and one waiting (--max-queue-size 1),
// so a third is refused with 503 and Retry-After; requests past --max-model-len or a KV cache past
// --max-kv-cache-bytes refused at once naming the field; and a client that goes away mid-stream stops its sequence at
// once, its KV cache freed (the running-sequences gauge and the cache bytes drop to zero).
import OpenAI from 'openai';
import { metricValue, startRuntime, tempDir, type RuntimeProcess } from '../../support/runtime-process.js';
import { decoderDir, postJson, readEvents, waitForMetric } from './support.js';

const tmp = tempDir('modelplane-gen-bounds-');
let rt: RuntimeProcess;
let kvPerToken: number;

beforeAll(async () => {
  // Positions enough for a sequence that runs until the test stops it.
  const model = decoderDir(tmp.path, 'long', { maxPositions: 16384 });
  kvPerToken = model.spec.layers * 2 * model.spec.kvHeads * (model.spec.hidden / model.spec.heads) * 4;
  rt = await startRuntime([
    '--model', model.dir, '--name', 'tiny', '--max-num-seqs', '1', '--max-queue-size', '1',
    '--max-model-len', '16000', '--max-kv-cache-bytes', String(12000 * kvPerToken), '--log-level', 'warn',
  ]);
});
afterAll(async () => {
  await rt?.stop();
  tmp.remove();
});

const metrics = async () => (await fetch(`${rt.url}/metrics`)).text();

/** A stream that generates until it is aborted; resolves once it has given a few tokens. */
async function endless(): Promise<{ abort: () => void; reading: Promise<unknown> }> {
  const controller = new AbortController();
  const res = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'Once upon a time', max_tokens: 11000, temperature: 0, ignore_eos: true, stream: true }, { signal: controller.signal });
  expect(res.status).toBe(200);
  let seen = 0;
  let started: () => void;
  const running = new Promise<void>((r) => (started = r));
  const reading = readEvents(res, () => {
    if (++seen === 3) started();
  }).catch(() => undefined);
  await running;
  return { abort: () => controller.abort(), reading };
}

test('a client that disconnects mid-stream stops its sequence: the running gauge and the KV-cache bytes drop to zero', async () => {
  const before = metricValue(await metrics(), 'modelplane_generation_sequences_total', 'reason="cancelled"');
  const stream = await endless();
  expect(metricValue(await metrics(), 'modelplane_generation_running_sequences')).toBe(1);
  expect(await waitForMetric(rt.url, 'modelplane_generation_kv_cache_bytes', (v) => v > 0)).toBeGreaterThan(0);
  stream.abort();
  await stream.reading;
  await waitForMetric(rt.url, 'modelplane_generation_running_sequences', (v) => v === 0);
  const after = await metrics();
  expect(metricValue(after, 'modelplane_generation_kv_cache_bytes')).toBe(0);
  expect(metricValue(after, 'modelplane_generation_sequences_total', 'reason="cancelled"')).toBe(before + 1);
  await waitForMetric(rt.url, 'modelplane_inference_inflight_requests', (v) => v === 0);
  // Far fewer than the 11000 tokens asked for were generated.
  expect(metricValue(after, 'modelplane_generation_tokens_total')).toBeLessThan(11000);
});

test('beyond --max-num-seqs requests wait; beyond --max-queue-size they are refused with 503 and Retry-After', async () => {
  const running = await endless();
  const waiting = postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'Hello', max_tokens: 3, temperature: 0 });
  await waitForMetric(rt.url, 'modelplane_generation_waiting_sequences', (v) => v === 1);
  const refused = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'Hello', max_tokens: 3 });
  expect(refused.status).toBe(503);
  expect(refused.headers.get('retry-after')).toBe('1');
  expect(await refused.json()).toEqual({ error: { message: expect.stringMatching(/1 sequences are running and 1 waiting \(--max-queue-size 1\); retry later/), type: 'server_error', param: null, code: 'queue_full' } });
  // The official client sees the same refusal (with its retries off).
  const client = new OpenAI({ baseURL: `${rt.url}/v1`, apiKey: 'x', maxRetries: 0 });
  const err = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
  expect(err).toBeInstanceOf(OpenAI.InternalServerError);
  expect({ status: (err as InstanceType<typeof OpenAI.APIError>).status, code: (err as InstanceType<typeof OpenAI.APIError>).code }).toEqual({ status: 503, code: 'queue_full' });
  // Triton's generate extension refuses alike, in its own shape.
  const triton = await postJson(`${rt.url}/v2/models/tiny/generate`, { text_input: 'x' });
  expect(triton.status).toBe(503);
  expect(triton.headers.get('retry-after')).toBe('1');
  expect((await triton.json()).reason).toBe('QueueFull');
  // The waiting request runs once the running one is gone.
  running.abort();
  const answer = await waiting;
  expect(answer.status).toBe(200);
  expect((await answer.json()).usage.completion_tokens).toBe(3);
});

test('past --max-model-len, or a KV cache larger than --max-kv-cache-bytes on its own: 400 naming the field', async () => {
  const tooLong = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: 'Hello', max_tokens: 16000 });
  expect(tooLong.status).toBe(400);
  expect((await tooLong.json()).error).toMatchObject({ param: 'max_tokens', code: 'context_length_exceeded', message: expect.stringMatching(/maximum context length \(max_model_len\) of 16000 tokens; ask for at most 1599\d/) });
  const longPrompt = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: Array(16000).fill(7) });
  expect((await longPrompt.json()).error).toMatchObject({ param: 'prompt', message: expect.stringMatching(/the prompt is 16000 tokens/) });
  const chat = await postJson(`${rt.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'a '.repeat(16000) }] });
  expect(chat.status).toBe(400);
  expect((await chat.json()).error.param).toBe('messages');
  const cache = await postJson(`${rt.url}/v1/completions`, { model: 'tiny', prompt: [1, 2], max_tokens: 12500 });
  expect(cache.status).toBe(400);
  expect((await cache.json()).error).toMatchObject({ param: 'max_tokens', message: expect.stringMatching(new RegExp(`more than the ${12000 * kvPerToken} bytes of --max-kv-cache-bytes; ask for at most 11998`)) });
  const triton = await postJson(`${rt.url}/v2/models/tiny/generate`, { text_input: 'x', max_tokens: 16000 });
  expect(triton.status).toBe(400);
  expect((await triton.json()).error).toMatch(/max_model_len/);
});
