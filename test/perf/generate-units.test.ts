// The pieces of `modelplane perf --generate` without a server: flags, exact prompts, the SSE reader, the probe's
// verdict, the per-step figures and the server's generation breakdown.
import { join } from 'node:path';
import { parsePerfConfig } from '../../perf/config.js';
import { PerfError } from '../../perf/errors.js';
import { checkProbe } from '../../perf/generate-target.js';
import { ChunkReader, generationBody, openAiErrorKey } from '../../perf/generate-transport.js';
import { GenerationTally } from '../../perf/generation.js';
import { buildPrompts, loadTokenizer, promptCounter } from '../../perf/prompts.js';
import { generationBreakdown, hasServerHistograms, serverSnapshot } from '../../perf/server-metrics.js';
import { writeDecoderModelDir } from '../../examples/decoder-model.js';
import { tempDir } from '../support/runtime-process.js';

const tmp = tempDir('modelplane-perf-gen-units-');
const modelDir = writeDecoderModelDir(join(tmp.path, 'tiny')).dir;
afterAll(() => tmp.remove());

const base = { url: 'http://localhost:8080', model: 'tiny' };
const gen = { ...base, generate: true, tokenizer: modelDir };

test('--generate defaults: completions, 128 prompt and 128 output tokens, metrics from the server', () => {
  expect(parsePerfConfig(gen)).toMatchObject({ generate: { endpoint: 'completions', promptTokens: 128, outputTokens: 128, tokenizer: modelDir }, metricsUrl: 'http://localhost:8080/metrics' });
  expect(parsePerfConfig({ ...gen, endpoint: 'chat', promptTokens: '7', outputTokens: '3' }).generate).toMatchObject({ endpoint: 'chat', promptTokens: 7, outputTokens: 3 });
  expect(parsePerfConfig(base).generate).toBeUndefined();
});

test.each<[string, object, RegExp]>([
  ['--tokenizer is required', { ...base, generate: true }, /^--tokenizer: is required with --generate/],
  ['--prompt-tokens needs --generate', { ...base, promptTokens: '5' }, /^--prompt-tokens: needs --generate$/],
  ['--endpoint needs --generate', { ...base, endpoint: 'chat' }, /^--endpoint: needs --generate$/],
  ['--shape does not apply', { ...gen, shape: ['x:1'] }, /^--shape: does not apply to --generate$/],
  ['--soak does not apply', { ...gen, soak: '1m' }, /^--soak: does not apply to --generate$/],
  ['--input-data does not apply', { ...gen, inputData: 'zero' }, /^--input-data: does not apply to --generate$/],
  ['gRPC', { ...gen, protocol: 'grpc' }, /^--protocol: --generate speaks OpenAI's API over HTTP, not grpc$/],
  ['a bad endpoint', { ...gen, endpoint: 'x' }, /^--endpoint: "x" is not completions or chat$/],
  ['prompt tokens not a number', { ...gen, promptTokens: 'many' }, /^--prompt-tokens: must be an integer from 1 to 1000000, got "many"$/],
])('%s', (_name, flags, message) => {
  let err: unknown;
  try {
    parsePerfConfig(flags);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PerfError);
  expect((err as PerfError).reason).toBe('InvalidArgument');
  expect((err as PerfError).message).toMatch(message);
});

test.each([1, 2, 7, 50, 300])('prompts of exactly %d tokens, for completions and chat, each different', (n) => {
  const tokenizer = loadTokenizer(modelDir);
  const completions = buildPrompts(tokenizer, 'completions', n, 1);
  expect(completions.map((p) => tokenizer.encode(p, true).length)).toEqual(Array(8).fill(n));
  if (n > 1) expect(new Set(completions).size).toBeGreaterThan(1);
  const overhead = promptCounter(tokenizer, 'chat')('');
  if (n <= overhead) {
    expect(() => buildPrompts(tokenizer, 'chat', n, 1)).toThrow(/--prompt-tokens: \d+ is not more than the \d+ token\(s\) the server adds to every prompt/);
    return;
  }
  const chat = buildPrompts(tokenizer, 'chat', n, 1);
  expect(chat.map((p) => tokenizer.encode(tokenizer.applyChatTemplate([{ role: 'user', content: p }]), false).length)).toEqual(Array(8).fill(n));
});

test('a tokenizer path that is not one is refused naming --tokenizer', () => {
  expect(() => loadTokenizer(tmp.path)).toThrow(/^--tokenizer: .* holds no tokenizer.json$/);
  expect(() => loadTokenizer(join(modelDir, 'config.json'))).toThrow(/^--tokenizer: .*config.json is not a tokenizer this runtime can read/);
});

test('the request body: max_tokens fixed, ignore_eos, streamed with usage', () => {
  expect(JSON.parse(generationBody({ model: 'm', endpoint: 'completions', outputTokens: 9 }, 'hi'))).toEqual({ model: 'm', prompt: 'hi', max_tokens: 9, ignore_eos: true, stream: true, stream_options: { include_usage: true } });
  expect(JSON.parse(generationBody({ model: 'm', endpoint: 'chat', outputTokens: 9 }, 'hi')).messages).toEqual([{ role: 'user', content: 'hi' }]);
});

describe('the SSE reader', () => {
  const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
  test('the first chunk with text is the first token; usage gives the counts; [DONE] ends it', () => {
    const r = new ChunkReader();
    const chat = `${sse({ choices: [{ delta: { role: 'assistant', content: '' } }] })}${sse({ choices: [{ delta: { content: 'He' } }] })}`;
    r.push(chat.slice(0, 30), 10);
    r.push(chat.slice(30), 20);
    r.push(sse({ choices: [{ delta: { content: 'llo' } }] }), 30);
    r.push(`${sse({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } })}data: [DONE]\n\n`, 40);
    expect(r.finish()).toEqual({ firstTokenAt: 20, promptTokens: 5, outputTokens: 2 });
  });
  test('without usage the chunks of text are counted; a stream cut before [DONE] is an error', () => {
    const r = new ChunkReader();
    r.push(`${sse({ choices: [{ text: 'a' }] })}${sse({ choices: [{ text: '' }] })}${sse({ choices: [{ text: 'b' }] })}`, 5);
    expect(r.finish()).toEqual({ firstTokenAt: 5, outputTokens: 2, error: 'IncompleteStream' });
  });
  test('an error event in the stream names its code', () => {
    const r = new ChunkReader();
    r.push(`${sse({ error: { code: 'engine_failed', message: 'x' } })}data: [DONE]\n\n`, 1);
    expect(r.finish().error).toBe('stream engine_failed');
  });
  test('error keys of refused requests', () => {
    expect(openAiErrorKey(400, JSON.stringify({ error: { code: 'context_length_exceeded' } }))).toBe('400 context_length_exceeded');
    expect(openAiErrorKey(503, JSON.stringify({ error: 'busy', reason: 'QueueFull' }))).toBe('503 QueueFull');
    expect(openAiErrorKey(502, '<html>')).toBe('502');
  });
});

describe('the first generation', () => {
  const g = { endpoint: 'completions' as const, promptTokens: 10, outputTokens: 4, tokenizer: modelDir };
  test('as asked: no warning', () => expect(checkProbe(base, g, { firstTokenAt: 1, promptTokens: 10, outputTokens: 4 })).toEqual([]));
  test('what the server counted otherwise is said', () => {
    expect(checkProbe(base, g, { firstTokenAt: 1, promptTokens: 11, outputTokens: 2 })).toEqual([
      'the server counted 11 prompt tokens where --tokenizer made 10: its tokenizer is not the one given',
      'the server generated 2 tokens where max_tokens asked 4 with ignore_eos: the figures use what it counted',
    ]);
    expect(checkProbe(base, g, { outputTokens: 4 })).toEqual([expect.stringMatching(/^the server sent no usage/), 'the first generation streamed no text: no time to first token']);
  });
  test('a refusal stops the run: InvalidArgument; nothing listening: Unreachable', () => {
    expect(() => checkProbe(base, g, { error: '400 context_length_exceeded', outputTokens: 0 })).toThrow(/refused the generation .* \(400 context_length_exceeded\)/);
    expect(() => checkProbe(base, g, { error: 'ECONNREFUSED', outputTokens: 0 })).toThrow(/cannot reach/);
    expect(checkProbe(base, g, { error: '503 QueueFull', outputTokens: 0 })).toEqual([expect.stringMatching(/first generation failed \(503 QueueFull\)/)]);
  });
});

test('a step\'s figures: TTFT from the start, ITL over the tokens after the first, tokens and requests per second', () => {
  const t = new GenerationTally(10);
  // Started at 100, first token at 100.3, last at 101.2 with 4 tokens: TTFT 0.3, ITL (1.2 - 0.3) / 3 = 0.3.
  t.record(1.2, { firstTokenAt: 100.3, promptTokens: 10, outputTokens: 4 }, 100);
  t.record(0.8, { firstTokenAt: 200.2, promptTokens: 12, outputTokens: 4 }, 200);
  expect(t.figures(2)).toEqual({
    ttftMs: { p50: 0.2, p90: 0.3, p99: 0.3 },
    itlMs: { p50: 0.2, p99: 0.3 },
    outputTokens: 8,
    outputTokensPerS: 4,
    requestsPerS: 1,
    promptTokens: { asked: 10, counted: 11 },
  });
});

test('the server\'s generation breakdown from its histograms', () => {
  const text = (n: number) => [
    `modelplane_generation_queue_duration_seconds_sum{model="tiny"} ${0.01 * n}`, `modelplane_generation_queue_duration_seconds_count{model="tiny"} ${n}`,
    `modelplane_generation_time_to_first_token_seconds_sum{model="tiny"} ${0.05 * n}`, `modelplane_generation_time_to_first_token_seconds_count{model="tiny"} ${n}`,
    `modelplane_generation_inter_token_latency_seconds_sum{model="tiny"} ${0.002 * 10 * n}`, `modelplane_generation_inter_token_latency_seconds_count{model="tiny"} ${10 * n}`,
    `modelplane_generation_batch_size_sum{model="tiny"} ${30 * n}`, `modelplane_generation_batch_size_count{model="tiny"} ${10 * n}`,
  ].join('\n');
  const before = serverSnapshot(text(1), 'tiny');
  const after = serverSnapshot(text(3), 'tiny');
  expect(hasServerHistograms(after, true)).toBe(true);
  expect(hasServerHistograms(after)).toBe(false);
  expect(generationBreakdown(before, after)).toEqual({ queueMs: 10, computeMs: null, batchSize: 3, ttftMs: 50, itlMs: 2 });
  expect(generationBreakdown(before, undefined)).toBeNull();
  expect(hasServerHistograms(serverSnapshot('process_resident_memory_bytes 5', 'tiny'), true)).toBe(false);
});
