// `modelplane perf` flags -> a checked configuration. Every refusal names the flag and the reason.
import { parseDuration, parseInteger, parseNumber, ParseError } from '../common/parse.js';
import { invalid } from './errors.js';
import type { GenerateEndpoint } from './prompts.js';

export type Protocol = 'http' | 'grpc';

/** One load level: a closed loop of N callers, or an open loop at a fixed request rate. */
export type LoadLevel = { concurrency: number } | { rate: number };

export type InputData = { kind: 'random' } | { kind: 'zero' } | { kind: 'file'; path: string };

/** --generate: streamed generations through the model's OpenAI-compatible API instead of inference requests. */
export interface GenerateConfig {
  endpoint: GenerateEndpoint;
  /** Prompt tokens of every request, as the server counts them. */
  promptTokens: number;
  /** max_tokens of every request (with ignore_eos, the tokens each generates). */
  outputTokens: number;
  /** The model directory (or tokenizer.json) the prompts are made with. */
  tokenizer: string;
}

export interface PerfConfig {
  url: string;
  model: string;
  modelVersion?: string;
  protocol: Protocol;
  binary: boolean;
  levels: LoadLevel[];
  durationMs: number;
  warmupMs: number;
  /** Concrete dimensions per input name, for the model's variable (-1) dimensions. */
  shapes: Record<string, number[]>;
  /** Dimension 0 when it is variable and no --shape gives it. */
  batchSize: number;
  inputData: InputData;
  outDir?: string;
  soakMs?: number;
  soakIntervalMs?: number;
  /** Fraction of requests (0..1) that may fail before the run fails. */
  maxErrorRate: number;
  /** Percent the soak's median latency may drift (last interval against the first) before the run fails. */
  maxDriftPct: number;
  timeoutMs: number;
  /** Open loop: most requests in flight at once; beyond it due requests wait (and their wait counts). */
  maxInflight: number;
  /** Where Prometheus metrics are scraped; undefined turns the server breakdown off. */
  metricsUrl?: string;
  grpcProto?: string;
  quiet: boolean;
  seed: number;
  generate?: GenerateConfig;
}

export interface PerfFlags {
  url?: string;
  model?: string;
  modelVersion?: string;
  protocol?: string;
  binary?: boolean;
  concurrency?: string;
  rate?: string;
  duration?: string;
  warmup?: string;
  shape?: string[];
  batchSize?: string;
  inputData?: string;
  out?: string;
  soak?: string;
  soakInterval?: string;
  maxErrorRate?: string;
  maxDrift?: string;
  timeout?: string;
  maxInflight?: string;
  metricsUrl?: string;
  grpcProto?: string;
  quiet?: boolean;
  seed?: string;
  generate?: boolean;
  endpoint?: string;
  promptTokens?: string;
  outputTokens?: string;
  tokenizer?: string;
}

/** Flags of inference requests that mean nothing for generations, and flags of generations that need --generate. */
const INFERENCE_ONLY: [keyof PerfFlags, string][] = [['binary', '--binary'], ['shape', '--shape'], ['batchSize', '--batch-size'], ['inputData', '--input-data'], ['modelVersion', '--model-version'], ['grpcProto', '--grpc-proto'], ['soak', '--soak']];
const GENERATE_ONLY: [keyof PerfFlags, string][] = [['endpoint', '--endpoint'], ['promptTokens', '--prompt-tokens'], ['outputTokens', '--output-tokens'], ['tokenizer', '--tokenizer']];

/** The --generate settings, or undefined without --generate; flags of the other mode are refused naming them. */
export function parseGenerate(f: PerfFlags): GenerateConfig | undefined {
  if (!f.generate) {
    const stray = GENERATE_ONLY.find(([k]) => f[k] !== undefined);
    if (stray) invalid(`${stray[1]}: needs --generate`);
    return undefined;
  }
  const stray = INFERENCE_ONLY.find(([k]) => f[k] !== undefined && f[k] !== false);
  if (stray) invalid(`${stray[1]}: does not apply to --generate`);
  if ((f.protocol ?? 'http') !== 'http') invalid(`--protocol: --generate speaks OpenAI's API over HTTP, not ${f.protocol}`);
  const endpoint = f.endpoint ?? 'completions';
  if (endpoint !== 'completions' && endpoint !== 'chat') invalid(`--endpoint: "${f.endpoint}" is not completions or chat`);
  if (!f.tokenizer) invalid('--tokenizer: is required with --generate (the model directory holding tokenizer.json, or the file), to make prompts of exactly --prompt-tokens tokens');
  return {
    endpoint,
    promptTokens: f.promptTokens !== undefined ? positiveInt(f.promptTokens, '--prompt-tokens', 1_000_000) : 128,
    outputTokens: f.outputTokens !== undefined ? positiveInt(f.outputTokens, '--output-tokens', 1_000_000) : 128,
    tokenizer: f.tokenizer,
  };
}

/** A common parser's refusal as perf's InvalidArgument, its message naming the flag. */
function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ParseError) invalid(err.message);
    throw err;
  }
}

const MAX_DURATION_MS = 30 * 24 * 3_600_000;

/** "500ms", "10s", "1m30s", "2h", or a bare number of seconds -> milliseconds, at most 30 days. */
function duration(text: string, flag: string, opts: { allowZero?: boolean } = {}): number {
  return parsed(() => parseDuration(text, flag, { maxMs: MAX_DURATION_MS, ...opts }));
}

function positiveInt(text: string, flag: string, max = 1_000_000): number {
  return parsed(() => parseInteger(text, flag, { min: 1, max }));
}

function list(text: string, flag: string, parse: (s: string) => number): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) invalid(`${flag}: "${text}" has an empty entry (use e.g. 1,2,4,8)`);
  return parts.map(parse);
}

/** Requests per second: more than 0, at most a million. */
function positiveNumber(text: string, flag: string): number {
  return parsed(() => parseNumber(text, flag, { min: 0, above: true, max: 1_000_000 }));
}

/** "0.01" or "1%" -> 0.01. */
function fraction(text: string, flag: string): number {
  const t = text.trim();
  const pct = t.endsWith('%');
  const n = Number(pct ? t.slice(0, -1) : t) / (pct ? 100 : 1);
  if (t === '' || t === '%' || !Number.isFinite(n) || n < 0 || n > 1) invalid(`${flag}: "${text}" is not a fraction between 0 and 1 (or a percentage, e.g. 1%)`);
  return n;
}

function percent(text: string, flag: string): number {
  const t = text.trim().replace(/%$/, '');
  const n = Number(t);
  if (t === '' || !Number.isFinite(n) || n < 0) invalid(`${flag}: "${text}" is not a non-negative percentage`);
  return n;
}

/** "INPUT0:1,16" (repeatable) -> { INPUT0: [1, 16] }. */
export function parseShapes(values: string[] = []): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const v of values) {
    const i = v.lastIndexOf(':');
    if (i <= 0 || i === v.length - 1) invalid(`--shape: "${v}" is not INPUT:d0,d1,... (e.g. INPUT0:1,16)`);
    const name = v.slice(0, i);
    const dims = v.slice(i + 1).split(',').map((d) => {
      const t = d.trim();
      if (!/^\d+$/.test(t) || Number(t) > 2 ** 31 - 1) invalid(`--shape: ${name}: "${d}" is not a non-negative integer dimension`);
      return Number(t);
    });
    if (out[name]) invalid(`--shape: input ${name} is given more than once`);
    out[name] = dims;
  }
  return out;
}

function parseUrl(text: string | undefined, flag: string): string {
  if (!text) invalid(`${flag}: is required (e.g. ${flag} http://localhost:8080)`);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    invalid(`${flag}: "${text}" is not a URL (e.g. http://localhost:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') invalid(`${flag}: "${text}" must be http:// or https://`);
  return text.replace(/\/+$/, '');
}

export function parsePerfConfig(f: PerfFlags): PerfConfig {
  const protocol = (f.protocol ?? 'http') as Protocol;
  if (protocol !== 'http' && protocol !== 'grpc') invalid(`--protocol: "${f.protocol}" is not http or grpc`);
  if (!f.url) invalid(`--url: is required (e.g. --url ${protocol === 'grpc' ? 'grpc://localhost:9000' : 'http://localhost:8080'})`);
  const url = protocol === 'grpc' ? f.url.replace(/\/+$/, '') : parseUrl(f.url, '--url');
  if (!f.model) invalid('--model: is required (the model name, as in /v2/models/{name})');
  const generate = parseGenerate(f);
  if (f.concurrency !== undefined && f.rate !== undefined) invalid('--concurrency and --rate: give one (closed loop or open loop), not both');
  let levels: LoadLevel[];
  if (f.rate !== undefined) levels = list(f.rate, '--rate', (s) => positiveNumber(s, '--rate')).map((rate) => ({ rate }));
  else levels = list(f.concurrency ?? '1', '--concurrency', (s) => positiveInt(s, '--concurrency', 10_000)).map((concurrency) => ({ concurrency }));
  const soakMs = f.soak !== undefined ? duration(f.soak, '--soak') : undefined;
  if (soakMs !== undefined && levels.length !== 1) invalid('--soak: holds one load level; give a single --concurrency or --rate value');
  let soakIntervalMs: number | undefined;
  if (soakMs !== undefined) {
    soakIntervalMs = f.soakInterval !== undefined ? duration(f.soakInterval, '--soak-interval') : Math.max(1000, Math.round(soakMs / 20));
    if (soakIntervalMs > soakMs) invalid(`--soak-interval: ${f.soakInterval} is longer than --soak ${f.soak}`);
    if (soakMs / soakIntervalMs > 100_000) invalid('--soak-interval: more than 100000 intervals; use a longer interval');
    if (f.duration !== undefined) invalid('--duration: does not apply to a soak, whose length is --soak');
  } else {
    if (f.soakInterval !== undefined) invalid('--soak-interval: needs --soak');
    if (f.maxDrift !== undefined) invalid('--max-drift: needs --soak (drift is measured across soak intervals)');
  }
  let inputData: InputData = { kind: 'random' };
  const d = f.inputData ?? 'random';
  if (d === 'zero') inputData = { kind: 'zero' };
  else if (d !== 'random') inputData = { kind: 'file', path: d };
  const metricsUrl = f.metricsUrl === 'none' ? undefined : f.metricsUrl !== undefined ? parseUrl(f.metricsUrl, '--metrics-url') : protocol === 'http' ? `${url}/metrics` : undefined;
  return {
    url,
    model: f.model,
    modelVersion: f.modelVersion,
    protocol,
    binary: f.binary === true,
    levels,
    durationMs: duration(f.duration ?? '10s', '--duration'),
    warmupMs: duration(f.warmup ?? '2s', '--warmup', { allowZero: true }),
    shapes: parseShapes(f.shape),
    batchSize: f.batchSize !== undefined ? positiveInt(f.batchSize, '--batch-size', 2 ** 31 - 1) : 1,
    inputData,
    outDir: f.out,
    soakMs,
    soakIntervalMs,
    maxErrorRate: f.maxErrorRate !== undefined ? fraction(f.maxErrorRate, '--max-error-rate') : 0,
    maxDriftPct: f.maxDrift !== undefined ? percent(f.maxDrift, '--max-drift') : 50,
    timeoutMs: duration(f.timeout ?? '30s', '--timeout'),
    maxInflight: f.maxInflight !== undefined ? positiveInt(f.maxInflight, '--max-inflight', 100_000) : 1024,
    metricsUrl,
    grpcProto: f.grpcProto,
    quiet: f.quiet === true,
    seed: f.seed !== undefined ? positiveInt(f.seed, '--seed', 2 ** 31 - 1) : 1,
    ...(generate ? { generate } : {}),
  };
}

export function levelLabel(l: LoadLevel): string {
  return 'concurrency' in l ? `concurrency ${l.concurrency}` : `rate ${l.rate}/s`;
}
