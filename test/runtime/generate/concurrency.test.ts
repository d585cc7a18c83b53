// Continuous batching changes nothing a client can see: 16 concurrent streams with prompts of different lengths (one
// longer than a prefill chunk), different lengths to generate, fewer batch rows than streams (so sequences wait, join
// the running batch and leave it at token boundaries) get exactly the greedy tokens of a plain single-sequence loop over
// raw onnxruntime. For a float32 cache with position_ids, a float16 cache whose model counts positions itself, and
// a merged decoder that uses its past only when told to (use_cache_branch).
// End-of-sequence tokens end a sequence (finish_reason stop) unless ignore_eos says otherwise.
import { metricValue, startRuntime, tempDir, type RuntimeProcess } from '../../support/runtime-process.js';
import { decoderDir, postJson, readEvents, ReferenceDecoder, tokenPrompts } from './support.js';

const tmp = tempDir('modelplane-gen-batch-');
afterAll(() => tmp.remove());

const LENGTHS = [1, 3, 7, 12, 20, 33, 5, 64, 2, 300, 9, 17, 41, 128, 4, 26];
const MAX_TOKENS = LENGTHS.map((_, i) => 6 + ((i * 7) % 29));

interface StreamResult {
  tokens: number[];
  text: string;
  finish: string | null;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** A streamed completion of token ids, read as raw server-sent events. */
async function streamTokens(url: string, model: string, prompt: number[], maxTokens: number, extra: Record<string, unknown> = {}): Promise<StreamResult> {
  const res = await postJson(`${url}/v1/completions`, {
    model, prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true }, return_token_ids: true, ...extra,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events = await readEvents(res);
  expect(events[events.length - 1]).toBe('[DONE]');
  const result: StreamResult = { tokens: [], text: '', finish: null };
  for (const e of events.slice(0, -1)) {
    const chunk = JSON.parse(e);
    if (chunk.usage) result.usage = chunk.usage;
    for (const c of chunk.choices) {
      result.tokens.push(...(c.token_ids ?? []));
      result.text += c.text;
      if (c.finish_reason) result.finish = c.finish_reason;
    }
  }
  return result;
}

describe.each([
  ['float32 cache, position_ids given', {}],
  ['float16 cache, positions from the attention mask', { kvDtype: 'float16' as const, positionIds: false }],
  ['a merged decoder taking use_cache_branch', { useCacheBranch: true }],
])('16 concurrent greedy streams (%s)', (name, opts) => {
  let rt: RuntimeProcess;
  let reference: ReferenceDecoder;
  let vocab: number;
  let eos: number[];
  beforeAll(async () => {
    const model = decoderDir(tmp.path, name.replace(/\W+/g, '-'), opts);
    vocab = model.spec.vocabSize;
    eos = model.eosTokenIds;
    reference = await ReferenceDecoder.load(model);
    rt = await startRuntime(['--model', model.dir, '--name', 'tiny', '--max-num-seqs', '5', '--log-level', 'warn']);
  });
  afterAll(async () => {
    await rt?.stop();
  });

  test('every stream gets the tokens of the plain loop, while sequences join and leave the batch', async () => {
    const prompts = tokenPrompts(LENGTHS, vocab - 3, 11);
    const expected = await Promise.all(prompts.map((p, i) => reference.greedy(p, MAX_TOKENS[i])));
    const got = await Promise.all(prompts.map((p, i) => streamTokens(rt.url, 'tiny', p, MAX_TOKENS[i], { ignore_eos: true })));
    // The decode steps did batch: some ran over several sequences, none over more than --max-num-seqs.
    const metrics = await (await fetch(`${rt.url}/metrics`)).text();
    const steps = metricValue(metrics, 'modelplane_generation_batch_size_count');
    expect(steps - metricValue(metrics, 'modelplane_generation_batch_size_bucket', 'le="1"')).toBeGreaterThan(0);
    expect(metricValue(metrics, 'modelplane_generation_batch_size_bucket', 'le="8"')).toBe(steps);
    expect(metricValue(metrics, 'modelplane_generation_batch_size_bucket', 'le="2"')).toBeLessThan(steps);
    got.forEach((g, i) => {
      expect({ stream: i, tokens: g.tokens }).toEqual({ stream: i, tokens: expected[i] });
      expect({ stream: i, finish: g.finish, usage: g.usage }).toEqual({ stream: i, finish: 'length', usage: { prompt_tokens: LENGTHS[i], completion_tokens: MAX_TOKENS[i], total_tokens: LENGTHS[i] + MAX_TOKENS[i] } });
    });
  });

  test('an end-of-sequence token ends a sequence with finish_reason stop; ignore_eos runs on to max_tokens', async () => {
    // Prompts whose greedy continuation reaches an end token early, found with the plain loop.
    const candidates = tokenPrompts(Array.from({ length: 120 }, (_, i) => 2 + (i % 9)), vocab - 3, 99);
    const found: { prompt: number[]; tokens: number[] }[] = [];
    for (const prompt of candidates) {
      const tokens = await reference.greedy(prompt, 24, eos);
      if (eos.includes(tokens[tokens.length - 1])) found.push({ prompt, tokens });
      if (found.length === 3) break;
    }
    expect(found.length).toBe(3);
    const stopped = await Promise.all(found.map((f) => streamTokens(rt.url, 'tiny', f.prompt, 24)));
    stopped.forEach((s, i) => {
      expect(s.tokens).toEqual(found[i].tokens);
      expect(s.finish).toBe('stop');
      expect(s.usage!.completion_tokens).toBe(found[i].tokens.length);
    });
    const ignoring = await streamTokens(rt.url, 'tiny', found[0].prompt, 24, { ignore_eos: true });
    expect(ignoring.finish).toBe('length');
    expect(ignoring.tokens).toEqual(await reference.greedy(found[0].prompt, 24));
  });
});
