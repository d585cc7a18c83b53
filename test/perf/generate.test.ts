// `modelplane perf --generate` against a real `modelplane serve` process serving the example decoder (built in code)
// over loopback: streamed generations, genai-perf's figures per step, checked against what the server counted.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';
import { decoderDir } from '../runtime/generate/support.js';
import { drawReport } from './browser.js';
import { readResults, runPerfCli, withoutClientCpuWarnings } from './perf-cli.js';
import type { StepResult } from '../../perf/results.js';

const tmp = tempDir('modelplane-perf-generate-');
let rt: RuntimeProcess;
let modelDir: string;

beforeAll(async () => {
  modelDir = decoderDir(tmp.path, 'tiny').dir;
  rt = await startRuntime(['--model', modelDir, '--log-level', 'warn']);
});
afterAll(async () => {
  await rt?.stop();
  tmp.remove();
});

const generate = (extra: string[]) => ['--generate', '--url', rt.url, '--model', 'tiny', '--tokenizer', modelDir, '--warmup', '200ms', '--quiet', ...extra];

/** The figures of one step, present and consistent: TTFT within end to end, tokens as asked. */
function expectSaneStep(s: StepResult, promptTokens: number, outputTokens: number): void {
  expect(s.errorCount).toBe(0);
  expect(s.requests).toBeGreaterThan(0);
  const g = s.generation!;
  expect(g.outputTokens).toBe(s.requests * outputTokens);
  expect(g.promptTokens).toEqual({ asked: promptTokens, counted: promptTokens });
  expect(g.requestsPerS).toBe(s.throughput);
  // Over the step's length (durationS is rounded to the millisecond).
  expect(Math.abs(g.outputTokensPerS - g.outputTokens / s.durationS)).toBeLessThan(g.outputTokensPerS * 0.01);
  expect(g.ttftMs.p50).toBeGreaterThan(0);
  expect(g.ttftMs.p50).toBeLessThanOrEqual(g.ttftMs.p90);
  expect(g.ttftMs.p90).toBeLessThanOrEqual(g.ttftMs.p99);
  // Each request's first token comes no later than its end, so each percentile of TTFT is within the same of end to end.
  for (const p of ['p50', 'p90', 'p99'] as const) expect(g.ttftMs[p]).toBeLessThanOrEqual(s.latencyMs[p]);
  expect(g.itlMs.p50).toBeGreaterThan(0);
  expect(g.itlMs.p50).toBeLessThanOrEqual(g.itlMs.p99);
  // ITL spans the tokens after the first: never more than the end to end time over them.
  expect(g.itlMs.p50 * (outputTokens - 1)).toBeLessThanOrEqual(s.latencyMs.max);
  expect(s.server).toEqual({ queueMs: expect.any(Number), computeMs: null, batchSize: expect.any(Number), ttftMs: expect.any(Number), itlMs: expect.any(Number) });
  expect(s.server!.batchSize).toBeGreaterThanOrEqual(1);
}

test('a closed-loop sweep: TTFT, ITL, tokens/s and requests/s per step in results.json, results.csv, report.html and the summary', async () => {
  const out = join(tmp.path, 'closed');
  const run = await runPerfCli(generate(['--prompt-tokens', '48', '--output-tokens', '12', '--concurrency', '1,4', '--duration', '1s', '--out', out]));
  expect(withoutClientCpuWarnings(run.stderr)).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/TTFT p50 .* ITL p50 .*\n.*concurrency 1/);
  const r = readResults(out);
  expect(r.target).toMatchObject({ model: 'tiny', endpoint: '/v1/completions', inputs: [] });
  expect(r.settings.generate).toEqual({ endpoint: 'completions', promptTokens: 48, outputTokens: 12, tokenizer: modelDir });
  expect(r.steps.map((s) => s.concurrency)).toEqual([1, 4]);
  for (const s of r.steps) expectSaneStep(s, 48, 12);
  expect(r.verdict.ok).toBe(true);

  const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
  const col = (name: string) => csv[0].indexOf(name);
  expect(col('ttft_p99_ms')).toBeGreaterThan(0);
  expect(csv.slice(1).map((row) => Number(row[col('output_tokens')]))).toEqual(r.steps.map((s) => s.generation!.outputTokens));
  expect(csv.slice(1).map((row) => Number(row[col('ttft_p50_ms')]))).toEqual(r.steps.map((s) => s.generation!.ttftMs.p50));

  const drawn = await drawReport(join(out, 'report.html'));
  expect(drawn.outsideRequests).toEqual([]);
  expect(drawn.charts.map((c) => c.id)).toEqual(expect.arrayContaining(['ttft-throughput', 'inter-token-latency', 'latency-throughput']));
  expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/<table class="generation">.*TTFT p99 ms.*ITL p50 ms/s);
}, 120_000);

test('an open-loop sweep sends every request due, and the chat endpoint counts the prompt through the chat template', async () => {
  const out = join(tmp.path, 'open');
  const run = await runPerfCli(generate(['--endpoint', 'chat', '--prompt-tokens', '40', '--output-tokens', '8', '--rate', '4,8', '--duration', '1s', '--out', out]));
  expect(withoutClientCpuWarnings(run.stderr)).toBe('');
  expect(run.code).toBe(0);
  const r = readResults(out);
  expect(r.target.endpoint).toBe('/v1/chat/completions');
  expect(r.steps.map((s) => [s.rate, s.requests])).toEqual([[4, 4], [8, 8]]);
  for (const s of r.steps) {
    expect(s.backlog).toEqual({ max: expect.any(Number), unsent: 0 });
    expect(s.generation!.outputTokens).toBe(s.requests * 8);
    expect(s.generation!.promptTokens).toEqual({ asked: 40, counted: 40 });
    for (const p of ['p50', 'p90', 'p99'] as const) expect(s.generation!.ttftMs[p]).toBeLessThanOrEqual(s.latencyMs[p]);
  }
}, 120_000);

test('a request the server refuses (a prompt past the context) stops the run before any load, exit 2', async () => {
  const run = await runPerfCli(generate(['--prompt-tokens', '2040', '--output-tokens', '16', '--duration', '1s']));
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/InvalidArgument: the server refused the generation perf built for tiny \(400 context_length_exceeded\); check --prompt-tokens and --output-tokens/);
});

test.each<[string, string[], number, RegExp]>([
  ['a model the server does not serve', ['--model', 'other'], 4, /ModelUnavailable: no generative model other at .*\/v1\/models \(it serves: tiny\)/],
  ['no tokenizer where it is asked', ['--tokenizer', '/nonexistent/dir'], 2, /InvalidArgument: --tokenizer: \/nonexistent\/dir does not exist/],
  ['an inference-only flag', ['--binary'], 2, /InvalidArgument: --binary: does not apply to --generate/],
  ['a bad endpoint', ['--endpoint', 'embeddings'], 2, /InvalidArgument: --endpoint: "embeddings" is not completions or chat/],
  ['a bad token count', ['--output-tokens', '0'], 2, /InvalidArgument: --output-tokens: must be an integer from 1 to 1000000, got "0"/],
])('refused: %s', async (_name, extra, code, message) => {
  const run = await runPerfCli([...generate(['--duration', '1s']), ...extra]);
  expect(run.stderr).toMatch(message);
  expect(run.code).toBe(code);
});

test('nothing listening at --url: Unreachable, exit 3', async () => {
  const port = await freePort();
  const run = await runPerfCli(['--generate', '--url', `http://127.0.0.1:${port}`, '--model', 'tiny', '--tokenizer', modelDir, '--duration', '1s']);
  expect(run.stderr).toMatch(/Unreachable: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  expect(run.code).toBe(3);
});
