// `modelplane perf`: reads the model's metadata, builds requests, warms up, runs each load level (or a soak),
// scrapes the server's /metrics around each, and writes results.json, results.csv and report.html.
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { levelLabel, type LoadLevel, type PerfConfig } from './config.js';
import { PerfError } from './errors.js';
import { buildSamples, resolveShapes, type RequestSample } from './inputs.js';
import { runClosedLoop, runOpenLoop, type LoadResult, type LoadState, type OnResult } from './load.js';
import { clientCpuWarning, cpuShare, progressLine, summaryTable } from './progress.js';
import { renderReport } from './report.js';
import { percentChange, toCsv, verdict, withDrift, type PerfResults, type SoakInterval, type SoakResult, type StepResult } from './results.js';
import { Recorder, type Outcome } from './recorder.js';
import { generationBreakdown, hasServerHistograms, scrapeMetrics, serverBreakdown, type ServerSnapshot } from './server-metrics.js';
import type { Target, Transport } from './transport.js';

export { Recorder } from './recorder.js';

export interface PerfIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Progress lines are for a person at a terminal. */
  progress: boolean;
  version: string;
  /** Set to end the run early; what was measured so far is still reported. */
  stopRequested?: () => boolean;
}

export async function createTransport(cfg: PerfConfig): Promise<Transport> {
  const opts = { url: cfg.url, model: cfg.model, modelVersion: cfg.modelVersion, binary: cfg.binary, timeoutMs: cfg.timeoutMs, maxInflight: cfg.maxInflight, grpcProto: cfg.grpcProto };
  if (cfg.protocol === 'grpc') {
    const { createGrpcTransport } = await import('./grpc-transport.js');
    return createGrpcTransport(opts);
  }
  const { HttpTransport } = await import('./http-transport.js');
  return new HttpTransport(opts);
}

function stepResult(level: LoadLevel, rec: Recorder, load: LoadResult, server: StepResult['server'], clientCpu: number): StepResult {
  const { count: _count, ...latencyMs } = rec.latency.summary();
  const seconds = load.elapsedMs / 1000;
  return {
    ...level,
    durationS: +seconds.toFixed(3),
    requests: rec.requests,
    throughput: +(rec.latency.count / seconds).toFixed(2),
    latencyMs,
    errorCount: rec.errorCount,
    errors: rec.errors,
    server,
    clientCpu,
    ...(load.maxBacklog !== undefined ? { backlog: { max: load.maxBacklog, unsent: load.unsent ?? 0 } } : {}),
    ...(rec.generation ? { generation: rec.generation.figures(seconds) } : {}),
  };
}

/** Fails before any load when --out cannot be written, so a long run is never lost at its end. */
export function prepareOutDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new PerfError('InvalidArgument', `--out ${dir}: cannot write there: ${(err as Error).message}`);
  }
}

export async function runPerf(cfg: PerfConfig, io: PerfIo): Promise<PerfResults> {
  const startedAt = new Date().toISOString();
  if (cfg.outDir) prepareOutDir(cfg.outDir);
  const ctx = runContext(cfg, io);
  const target = await openTarget(cfg, ctx.warn);
  try {
    return await measure(ctx, target, startedAt);
  } finally {
    target.close();
  }
}

/** The requests a run sends, built and tried once: generations with --generate, else inference requests. */
async function openTarget(cfg: PerfConfig, warn: (w: string) => void): Promise<Target> {
  if (cfg.generate) {
    const { generationTarget } = await import('./generate-target.js');
    return generationTarget(cfg, cfg.generate, warn);
  }
  const transport = await createTransport(cfg);
  try {
    const samples = await prepareRequests(cfg, transport);
    await probeServer(cfg, transport);
    const inputs = samples[0].map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape }));
    return { description: { url: cfg.url, model: cfg.model, protocol: cfg.protocol, binary: cfg.binary, inputs }, send: (i) => transport.infer(i), close: () => transport.close() };
  } catch (err) {
    transport.close();
    throw err;
  }
}

/** What the steps of one run share: the settings, the output, the server's metrics, and what recorders count. */
interface RunContext {
  cfg: PerfConfig;
  io: PerfIo;
  stop: () => boolean;
  warnings: string[];
  warn: (w: string) => void;
  metrics: MetricsScraper;
  newRecorder: () => Recorder;
  breakdown: typeof serverBreakdown;
}

async function measure(ctx: RunContext, target: Target, startedAt: string): Promise<PerfResults> {
  const load = new LoadDriver(target, ctx.cfg.maxInflight, ctx.stop);
  await warmUp(ctx, load);
  const { steps, soak } = await runLevels(ctx, load);
  if (ctx.stop()) ctx.warn('stopped early: the figures cover the part of the run that completed');
  const results = assembleResults(ctx, startedAt, target, steps, soak);
  reportResults(ctx, results);
  return results;
}

/** Reads the model's metadata and builds (and has the transport encode) the requests perf sends. */
async function prepareRequests(cfg: PerfConfig, transport: Transport): Promise<RequestSample[]> {
  const meta = await transport.metadata();
  const shapes = resolveShapes(meta.inputs, cfg.shapes, cfg.batchSize);
  const samples = buildSamples(meta.inputs, shapes, cfg.inputData, cfg.seed);
  transport.prepare(samples, meta.outputs.map((o) => o.name));
  return samples;
}

/** One request first: a server that refuses what perf built should say so now, not as a wall of errors. */
async function probeServer(cfg: PerfConfig, transport: Transport): Promise<void> {
  const probe = await transport.infer(0);
  if (probe !== undefined && /^(4\d\d|INVALID_ARGUMENT|NOT_FOUND|UNIMPLEMENTED)/.test(probe)) {
    throw new PerfError('InvalidArgument', `the server refused the request perf built for ${cfg.model} (${probe}); check --shape, --batch-size and --input-data against GET /v2/models/${cfg.model}`);
  }
  if (probe !== undefined && /^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH)$/.test(probe)) {
    throw new PerfError('Unreachable', `cannot reach ${cfg.url}: ${probe}`);
  }
}

function runContext(cfg: PerfConfig, io: PerfIo): RunContext {
  const warnings: string[] = [];
  const warn = (w: string) => {
    warnings.push(w);
    io.stderr(`modelplane perf: warning: ${w}\n`);
  };
  const stop = io.stopRequested ?? (() => false);
  const generate = cfg.generate;
  return {
    cfg, io, stop, warnings, warn,
    metrics: new MetricsScraper(cfg, warn),
    newRecorder: () => new Recorder(generate),
    breakdown: generate ? generationBreakdown : serverBreakdown,
  };
}

/** Applies one load level; request numbers run on across steps, so each step starts where the last one stopped. */
class LoadDriver {
  private counter = 1;

  constructor(private readonly target: Target, private readonly maxInflight: number, private readonly stop: () => boolean) {}

  async apply(level: LoadLevel, durationMs: number, onResult: OnResult<Outcome>, state: LoadState): Promise<LoadResult> {
    const send = (i: number) => this.target.send(i + this.counter);
    const o = { durationMs, send, onResult, state, shouldStop: this.stop };
    const r = 'concurrency' in level ? await runClosedLoop(level.concurrency, o) : await runOpenLoop(level.rate, this.maxInflight, o);
    this.counter += r.sent;
    return r;
  }
}

/** Scrapes the server's /metrics; remembers (and warns once) why steps carry no server breakdown, when they do not. */
class MetricsScraper {
  note: string | null;

  constructor(private readonly cfg: PerfConfig, private readonly warn: (w: string) => void) {
    this.note = cfg.metricsUrl ? null : noMetricsUrlNote(cfg);
  }

  async scrape(): Promise<ServerSnapshot | undefined> {
    const { metricsUrl, model, generate } = this.cfg;
    if (!metricsUrl) return undefined;
    const s = await scrapeMetrics(metricsUrl, model);
    if (this.note !== null) return s;
    if (!s) this.noted(`could not read ${metricsUrl}: no server-side breakdown`);
    else if (!hasServerHistograms(s, generate !== undefined)) {
      const kind = generate ? 'modelplane_generation_*' : 'modelplane_inference_*';
      this.noted(`${metricsUrl} exports no ${kind} histograms for model ${model} (a router's or another server's metrics): no server-side breakdown; point --metrics-url at the runtime's own /metrics`);
    }
    return s;
  }

  private noted(note: string): void {
    this.note = note;
    this.warn(note);
  }
}

/** A progress line a second while a step runs; returns the function that stops it. */
function startTicker(io: PerfIo, label: string, totalMs: number, rec: () => Recorder, state: LoadState): () => void {
  if (!io.progress) return () => {};
  const t0 = performance.now();
  let lastCount = 0;
  let lastAt = t0;
  const timer = setInterval(() => {
    const r = rec();
    const now = performance.now();
    const rate = ((r.requests - lastCount) * 1000) / (now - lastAt);
    lastCount = r.requests;
    lastAt = now;
    io.stderr(progressLine({ label, elapsedS: (now - t0) / 1000, totalS: totalMs / 1000, rate, p99Ms: r.latency.percentile(99), errors: r.errorCount, inflight: state.inflight, backlog: state.backlog }) + '\n');
  }, 1000);
  return () => clearInterval(timer);
}

/** Load at the first level for --warmup, its figures discarded. */
async function warmUp(ctx: RunContext, load: LoadDriver): Promise<void> {
  const first = ctx.cfg.levels[0];
  if (ctx.cfg.warmupMs <= 0 || ctx.stop()) return;
  const state = { inflight: 0, backlog: 0 };
  const rec = ctx.newRecorder();
  const done = startTicker(ctx.io, `warm-up ${levelLabel(first)}`, ctx.cfg.warmupMs, () => rec, state);
  await load.apply(first, ctx.cfg.warmupMs, rec.record, state);
  done();
}

/** Every load level in turn, or the soak at the first one. */
async function runLevels(ctx: RunContext, load: LoadDriver): Promise<{ steps: StepResult[]; soak?: SoakResult }> {
  const { cfg } = ctx;
  const steps: StepResult[] = [];
  if (cfg.soakMs === undefined) {
    for (const level of cfg.levels) {
      if (ctx.stop()) break;
      steps.push(await runStep(ctx, load, level, cfg.durationMs));
    }
    return { steps };
  }
  if (ctx.stop()) return { steps };
  const soak = await runSoak(ctx, load, cfg.levels[0], cfg.soakMs, cfg.soakIntervalMs!);
  return { steps: [soak.totals], soak };
}

async function runStep(ctx: RunContext, driver: LoadDriver, level: LoadLevel, durationMs: number): Promise<StepResult> {
  const state = { inflight: 0, backlog: 0 };
  const rec = ctx.newRecorder();
  const before = await ctx.metrics.scrape();
  const done = startTicker(ctx.io, levelLabel(level), durationMs, () => rec, state);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const load = await driver.apply(level, durationMs, rec.record, state);
  const clientCpu = cpuShare(cpu0, process.cpuUsage(), performance.now() - t0);
  done();
  const after = await ctx.metrics.scrape();
  const step = stepResult(level, rec, load, ctx.breakdown(before, after), clientCpu);
  const w = clientCpuWarning(levelLabel(level), clientCpu);
  if (w) ctx.warn(w);
  if (step.backlog && step.backlog.unsent > 0) ctx.warn(`${levelLabel(level)}: ${step.backlog.unsent} requests came due but were never sent (${ctx.cfg.maxInflight} in flight, --max-inflight): the server cannot sustain this rate`);
  return step;
}

/** One closed soak interval: its requests, its span and the server snapshot taken as it closed. */
interface ClosedInterval {
  rec: Recorder;
  startS: number;
  endS: number;
  snap: Promise<ServerSnapshot | undefined>;
}

/** Splits a soak's requests into intervals on a timer; the last one closes when the load has drained. */
class SoakIntervals {
  readonly total: Recorder;
  readonly closed: ClosedInterval[] = [];
  private current: Recorder;
  private startS = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly ctx: RunContext, private readonly t0: number) {
    this.total = ctx.newRecorder();
    this.current = ctx.newRecorder();
  }

  readonly record: OnResult<Outcome> = (ms, outcome, startedAt) => {
    this.total.record(ms, outcome, startedAt);
    this.current.record(ms, outcome, startedAt);
  };

  /** Closes intervals every intervalMs, leaving the last one to close() so no sliver of an interval is left. */
  start(soakMs: number, intervalMs: number): void {
    const boundaries = Math.ceil(soakMs / intervalMs - 1e-9) - 1;
    this.timer = setInterval(() => {
      if (this.closed.length < boundaries) this.rotate();
    }, intervalMs);
  }

  close(): void {
    clearInterval(this.timer);
    this.rotate();
  }

  private rotate(): void {
    const endS = (performance.now() - this.t0) / 1000;
    this.closed.push({ rec: this.current, startS: this.startS, endS, snap: this.ctx.metrics.scrape() });
    this.startS = endS;
    this.current = this.ctx.newRecorder();
  }
}

async function runSoak(ctx: RunContext, driver: LoadDriver, level: LoadLevel, soakMs: number, intervalMs: number): Promise<SoakResult> {
  const state = { inflight: 0, backlog: 0 };
  const snap0 = await ctx.metrics.scrape();
  const t0 = performance.now();
  const parts = new SoakIntervals(ctx, t0);
  const done = startTicker(ctx.io, `soak ${levelLabel(level)}`, soakMs, () => parts.total, state);
  parts.start(soakMs, intervalMs);
  const cpu0 = process.cpuUsage();
  const load = await driver.apply(level, soakMs, parts.record, state);
  const clientCpu = cpuShare(cpu0, process.cpuUsage(), performance.now() - t0);
  done();
  parts.close();
  const snaps = [snap0, ...(await Promise.all(parts.closed.map((c) => c.snap)))];
  const intervals = withDrift(parts.closed.map((c, i) => soakInterval(c, snaps[i], snaps[i + 1])));
  const totals = stepResult(level, parts.total, load, ctx.breakdown(snaps[0], snaps[snaps.length - 1]), clientCpu);
  const w = clientCpuWarning(`the soak`, clientCpu);
  if (w) ctx.warn(w);
  return soakResult(level, intervalMs, intervals, totals, snaps[0], snaps[snaps.length - 1]);
}

function soakInterval(c: ClosedInterval, before: ServerSnapshot | undefined, after: ServerSnapshot | undefined): Omit<SoakInterval, 'driftPct'> {
  const { count: _count, ...latencyMs } = c.rec.latency.summary();
  const seconds = Math.max(c.endS - c.startS, 1e-3);
  return {
    startS: +c.startS.toFixed(3),
    endS: +c.endS.toFixed(3),
    requests: c.rec.requests,
    throughput: +(c.rec.latency.count / seconds).toFixed(2),
    latencyMs,
    errorCount: c.rec.errorCount,
    errors: c.rec.errors,
    server: serverBreakdown(before, after),
    residentBytes: after?.residentBytes ?? null,
  };
}

function soakResult(level: LoadLevel, intervalMs: number, intervals: SoakInterval[], totals: StepResult, first: ServerSnapshot | undefined, last: ServerSnapshot | undefined): SoakResult {
  const startBytes = first?.residentBytes ?? null;
  const endBytes = last?.residentBytes ?? null;
  return {
    ...level,
    durationS: totals.durationS,
    intervalS: intervalMs / 1000,
    intervals,
    driftPct: intervals.length ? intervals[intervals.length - 1].driftPct.p50 : 0,
    memory: { startBytes, endBytes, growthPct: startBytes !== null && endBytes !== null ? percentChange(endBytes, startBytes) : null },
    totals,
  };
}

function assembleResults(ctx: RunContext, startedAt: string, target: Target, steps: StepResult[], soak: SoakResult | undefined): PerfResults {
  const { cfg } = ctx;
  const g = cfg.generate;
  const results: PerfResults = {
    tool: 'modelplane perf',
    version: ctx.io.version,
    startedAt,
    target: target.description,
    settings: {
      mode: 'rate' in cfg.levels[0] ? 'rate' : 'concurrency',
      durationS: cfg.durationMs / 1000,
      warmupS: cfg.warmupMs / 1000,
      inputData: g ? 'prompts' : cfg.inputData.kind === 'file' ? cfg.inputData.path : cfg.inputData.kind,
      maxErrorRate: cfg.maxErrorRate,
      maxDriftPct: cfg.maxDriftPct,
      ...(g ? { generate: { endpoint: g.endpoint, promptTokens: g.promptTokens, outputTokens: g.outputTokens, tokenizer: g.tokenizer } } : {}),
    },
    steps,
    ...(soak ? { soak } : {}),
    serverMetrics: { url: cfg.metricsUrl ?? null, note: ctx.metrics.note },
    warnings: ctx.warnings,
    verdict: { ok: true, exitCode: 0, reasons: [] },
  };
  results.verdict = verdict(results);
  return results;
}

/** The summary on stdout, and the three files under --out. */
function reportResults(ctx: RunContext, results: PerfResults): void {
  const { io, cfg } = ctx;
  const soak = results.soak;
  io.stdout(summaryTable(results.steps));
  if (soak) io.stdout(`soak: median latency drift ${soak.driftPct}% (last interval against the first), server memory ${soak.memory.growthPct ?? '-'}% over ${soak.durationS} s\n`);
  if (cfg.outDir) {
    writeOutputs(cfg.outDir, results);
    io.stdout(`wrote ${join(cfg.outDir, 'results.json')}, results.csv and report.html\n`);
  }
}

/** Why a run without --metrics-url has no server breakdown. */
function noMetricsUrlNote(cfg: PerfConfig): string {
  return cfg.protocol === 'grpc'
    ? 'no server-side breakdown: gRPC carries no metrics; give the runtime\'s HTTP metrics with --metrics-url (e.g. --metrics-url http://localhost:8080/metrics)'
    : 'no server-side breakdown: --metrics-url none';
}

export function writeOutputs(dir: string, r: PerfResults): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), JSON.stringify(r, null, 2) + '\n');
  writeFileSync(join(dir, 'results.csv'), toCsv(r));
  writeFileSync(join(dir, 'report.html'), renderReport(r));
}
