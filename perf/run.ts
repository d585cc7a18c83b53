// `modelplane perf`: reads the model's metadata, builds requests, warms up, runs each load level (or a soak),
// scrapes the server's /metrics around each, and writes results.json, results.csv and report.html.
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { levelLabel, type LoadLevel, type PerfConfig } from './config.js';
import { PerfError } from './errors.js';
import { LatencyHistogram } from './histogram.js';
import { buildSamples, resolveShapes } from './inputs.js';
import { runClosedLoop, runOpenLoop, type LoadResult, type LoadState, type OnResult } from './load.js';
import { clientCpuWarning, cpuShare, progressLine, summaryTable } from './progress.js';
import { renderReport } from './report.js';
import { percentChange, toCsv, verdict, withDrift, type PerfResults, type SoakInterval, type SoakResult, type StepResult } from './results.js';
import { hasServerHistograms, scrapeMetrics, serverBreakdown, type ServerSnapshot } from './server-metrics.js';
import type { Transport } from './transport.js';

export interface PerfIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Progress lines are for a person at a terminal. */
  progress: boolean;
  version: string;
  /** Set to end the run early; what was measured so far is still reported. */
  stopRequested?: () => boolean;
}

/** Outcomes of the requests of one step (or one soak interval). */
export class Recorder {
  readonly latency = new LatencyHistogram();
  readonly errors: Record<string, number> = {};
  errorCount = 0;

  readonly record: OnResult = (ms, err) => {
    if (err === undefined) this.latency.record(ms);
    else {
      this.errors[err] = (this.errors[err] ?? 0) + 1;
      this.errorCount++;
    }
  };

  get requests(): number {
    return this.latency.count + this.errorCount;
  }
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
  const transport = await createTransport(cfg);
  try {
    return await measure(cfg, io, transport, startedAt);
  } finally {
    transport.close();
  }
}

async function measure(cfg: PerfConfig, io: PerfIo, transport: Transport, startedAt: string): Promise<PerfResults> {
  const meta = await transport.metadata();
  const shapes = resolveShapes(meta.inputs, cfg.shapes, cfg.batchSize);
  const samples = buildSamples(meta.inputs, shapes, cfg.inputData, cfg.seed);
  transport.prepare(samples, meta.outputs.map((o) => o.name));
  const warnings: string[] = [];
  const warn = (w: string) => {
    warnings.push(w);
    io.stderr(`modelplane perf: warning: ${w}\n`);
  };

  // One request first: a server that refuses what perf built should say so now, not as a wall of errors.
  const probe = await transport.infer(0);
  if (probe !== undefined && /^(4\d\d|INVALID_ARGUMENT|NOT_FOUND|UNIMPLEMENTED)/.test(probe)) {
    throw new PerfError('InvalidArgument', `the server refused the request perf built for ${cfg.model} (${probe}); check --shape, --batch-size and --input-data against GET /v2/models/${cfg.model}`);
  }
  if (probe !== undefined && /^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH)$/.test(probe)) {
    throw new PerfError('Unreachable', `cannot reach ${cfg.url}: ${probe}`);
  }

  const stop = io.stopRequested ?? (() => false);
  let counter = 1;
  const send = (i: number) => transport.infer(i + counter);

  const apply = async (level: LoadLevel, durationMs: number, onResult: OnResult, state: LoadState): Promise<LoadResult> => {
    const o = { durationMs, send, onResult, state, shouldStop: stop };
    const r = 'concurrency' in level ? await runClosedLoop(level.concurrency, o) : await runOpenLoop(level.rate, cfg.maxInflight, o);
    counter += r.sent;
    return r;
  };

  /** A progress line a second while a step runs. */
  const ticker = (label: string, totalMs: number, rec: () => Recorder, state: LoadState) => {
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
  };

  const first = cfg.levels[0];
  if (cfg.warmupMs > 0 && !stop()) {
    const state = { inflight: 0, backlog: 0 };
    const rec = new Recorder();
    const done = ticker(`warm-up ${levelLabel(first)}`, cfg.warmupMs, () => rec, state);
    await apply(first, cfg.warmupMs, rec.record, state);
    done();
  }

  // Why steps carry no server breakdown, when they do not: in the results, and on stderr when it was asked for.
  let metricsNote: string | null = cfg.metricsUrl ? null : noMetricsUrlNote(cfg);
  const scrape = async (): Promise<ServerSnapshot | undefined> => {
    if (!cfg.metricsUrl) return undefined;
    const s = await scrapeMetrics(cfg.metricsUrl, cfg.model);
    if (!s && metricsNote === null) {
      metricsNote = `could not read ${cfg.metricsUrl}: no server-side breakdown`;
      warn(metricsNote);
    } else if (s && !hasServerHistograms(s) && metricsNote === null) {
      metricsNote = `${cfg.metricsUrl} exports no modelplane_inference_* histograms for model ${cfg.model} (a router's or another server's metrics): no server-side breakdown; point --metrics-url at the runtime's own /metrics`;
      warn(metricsNote);
    }
    return s;
  };

  const runStep = async (level: LoadLevel, durationMs: number): Promise<StepResult> => {
    const state = { inflight: 0, backlog: 0 };
    const rec = new Recorder();
    const before = await scrape();
    const done = ticker(levelLabel(level), durationMs, () => rec, state);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const load = await apply(level, durationMs, rec.record, state);
    const clientCpu = cpuShare(cpu0, process.cpuUsage(), performance.now() - t0);
    done();
    const after = await scrape();
    const step = stepResult(level, rec, load, serverBreakdown(before, after), clientCpu);
    const w = clientCpuWarning(levelLabel(level), clientCpu);
    if (w) warn(w);
    if (step.backlog && step.backlog.unsent > 0) warn(`${levelLabel(level)}: ${step.backlog.unsent} requests came due but were never sent (${cfg.maxInflight} in flight, --max-inflight): the server cannot sustain this rate`);
    return step;
  };

  const steps: StepResult[] = [];
  let soak: SoakResult | undefined;
  if (cfg.soakMs === undefined) {
    for (const level of cfg.levels) {
      if (stop()) break;
      steps.push(await runStep(level, cfg.durationMs));
    }
  } else if (!stop()) {
    soak = await runSoak(first, cfg.soakMs, cfg.soakIntervalMs!);
    steps.push(soak.totals);
  }

  async function runSoak(level: LoadLevel, soakMs: number, intervalMs: number): Promise<SoakResult> {
    const state = { inflight: 0, backlog: 0 };
    const total = new Recorder();
    let current = new Recorder();
    const closed: { rec: Recorder; startS: number; endS: number; snap: Promise<ServerSnapshot | undefined> }[] = [];
    const snap0 = scrape();
    await snap0;
    const done = ticker(`soak ${levelLabel(level)}`, soakMs, () => total, state);
    const t0 = performance.now();
    let intervalStart = 0;
    const rotate = () => {
      const endS = (performance.now() - t0) / 1000;
      closed.push({ rec: current, startS: intervalStart, endS, snap: scrape() });
      intervalStart = endS;
      current = new Recorder();
    };
    // The last interval closes when the load has drained, not on the timer, so no sliver of an interval is left.
    const boundaries = Math.ceil(soakMs / intervalMs - 1e-9) - 1;
    const timer = setInterval(() => {
      if (closed.length < boundaries) rotate();
    }, intervalMs);
    const cpu0 = process.cpuUsage();
    const load = await apply(level, soakMs, (ms, err) => {
      total.record(ms, err);
      current.record(ms, err);
    }, state);
    clearInterval(timer);
    const clientCpu = cpuShare(cpu0, process.cpuUsage(), performance.now() - t0);
    done();
    rotate();
    const snaps = [await snap0, ...(await Promise.all(closed.map((c) => c.snap)))];
    const intervals: SoakInterval[] = withDrift(closed.map((c, i) => {
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
        server: serverBreakdown(snaps[i], snaps[i + 1]),
        residentBytes: snaps[i + 1]?.residentBytes ?? null,
      };
    }));
    const totals = stepResult(level, total, load, serverBreakdown(snaps[0], snaps[snaps.length - 1]), clientCpu);
    const w = clientCpuWarning(`the soak`, clientCpu);
    if (w) warn(w);
    const startBytes = snaps[0]?.residentBytes ?? null;
    const endBytes = snaps[snaps.length - 1]?.residentBytes ?? null;
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

  if (stop()) warn('stopped early: the figures cover the part of the run that completed');
  const settings = {
    mode: ('rate' in first ? 'rate' : 'concurrency') as 'rate' | 'concurrency',
    durationS: cfg.durationMs / 1000,
    warmupS: cfg.warmupMs / 1000,
    inputData: cfg.inputData.kind === 'file' ? cfg.inputData.path : cfg.inputData.kind,
    maxErrorRate: cfg.maxErrorRate,
    maxDriftPct: cfg.maxDriftPct,
  };
  const results: PerfResults = {
    tool: 'modelplane perf',
    version: io.version,
    startedAt,
    target: { url: cfg.url, model: cfg.model, protocol: cfg.protocol, binary: cfg.binary, inputs: samples[0].map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })) },
    settings,
    steps,
    ...(soak ? { soak } : {}),
    serverMetrics: { url: cfg.metricsUrl ?? null, note: metricsNote },
    warnings,
    verdict: { ok: true, exitCode: 0, reasons: [] },
  };
  results.verdict = verdict(results);
  io.stdout(summaryTable(steps));
  if (soak) io.stdout(`soak: median latency drift ${soak.driftPct}% (last interval against the first), server memory ${soak.memory.growthPct ?? '-'}% over ${soak.durationS} s\n`);
  if (cfg.outDir) {
    writeOutputs(cfg.outDir, results);
    io.stdout(`wrote ${join(cfg.outDir, 'results.json')}, results.csv and report.html\n`);
  }
  return results;
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
