// The results of a run as data (results.json), as a table (results.csv), and the verdict on them.
import type { GenerationFigures } from './generation.js';
import type { LatencySummary } from './histogram.js';
import type { ServerBreakdown } from './server-metrics.js';

/** What is measured over a stretch of load: a whole step, or one interval of a soak. */
export interface Measured {
  requests: number;
  /** Successful answers per second. */
  throughput: number;
  latencyMs: Omit<LatencySummary, 'count'>;
  errorCount: number;
  errors: Record<string, number>;
  server: ServerBreakdown | null;
}

export interface StepResult extends Measured {
  concurrency?: number;
  rate?: number;
  durationS: number;
  /** Share of one CPU core the load generator used during the step. */
  clientCpu: number;
  /** Open loop: most requests due and not yet sent at once, and those never sent. */
  backlog?: { max: number; unsent: number };
  /** --generate: time to first token, inter-token latency, tokens and requests per second. */
  generation?: GenerationFigures;
}

export interface SoakInterval extends Measured {
  startS: number;
  endS: number;
  /** Change of this interval's median and p99 against the first interval, percent. */
  driftPct: { p50: number; p99: number };
  residentBytes: number | null;
}

export interface SoakResult {
  concurrency?: number;
  rate?: number;
  durationS: number;
  intervalS: number;
  intervals: SoakInterval[];
  /** The last interval's median drift against the first: what --max-drift is checked against. */
  driftPct: number;
  memory: { startBytes: number | null; endBytes: number | null; growthPct: number | null };
  totals: StepResult;
}

export interface Verdict {
  ok: boolean;
  exitCode: number;
  reasons: string[];
}

export interface PerfResults {
  tool: 'modelplane perf';
  version: string;
  startedAt: string;
  target: {
    url: string;
    model: string;
    protocol: string;
    binary: boolean;
    inputs: { name: string; datatype: string; shape: number[] }[];
    /** --generate: the OpenAI route the generations went to, e.g. /v1/completions. */
    endpoint?: string;
  };
  settings: {
    mode: 'concurrency' | 'rate';
    durationS: number;
    warmupS: number;
    inputData: string;
    maxErrorRate: number;
    maxDriftPct: number;
    generate?: { endpoint: string; promptTokens: number; outputTokens: number; tokenizer: string };
  };
  steps: StepResult[];
  soak?: SoakResult;
  /** Where the server breakdown was read, and why steps carry none (server: null) when they do not. */
  serverMetrics: { url: string | null; note: string | null };
  warnings: string[];
  verdict: Verdict;
}

export function percentChange(value: number, base: number): number {
  if (base <= 0) return 0;
  return Math.round((value / base - 1) * 1000) / 10;
}

/** Drift of every interval against the first. */
export function withDrift<T extends { latencyMs: { p50: number; p99: number } }>(intervals: T[]): (T & { driftPct: { p50: number; p99: number } })[] {
  const base = intervals[0]?.latencyMs;
  return intervals.map((iv) => ({ ...iv, driftPct: { p50: percentChange(iv.latencyMs.p50, base?.p50 ?? 0), p99: percentChange(iv.latencyMs.p99, base?.p99 ?? 0) } }));
}

export function errorRate(steps: { requests: number; errorCount: number }[]): number {
  const requests = steps.reduce((n, s) => n + s.requests, 0);
  const errors = steps.reduce((n, s) => n + s.errorCount, 0);
  return requests === 0 ? 0 : errors / requests;
}

/** Exit 0, or the first failure's code: errors past --max-error-rate (5), then soak drift past --max-drift (6). */
export function verdict(r: { steps: StepResult[]; soak?: SoakResult; settings: { maxErrorRate: number; maxDriftPct: number } }): Verdict {
  const reasons: string[] = [];
  const codes: number[] = [];
  // A soak's totals are its one step.
  const measured = r.steps;
  const requests = measured.reduce((n, s) => n + s.requests, 0);
  const rate = errorRate(measured);
  if (requests === 0) {
    reasons.push('ErrorRateExceeded: no request was answered');
    codes.push(5);
  } else if (rate > r.settings.maxErrorRate) {
    const errors = measured.reduce((n, s) => n + s.errorCount, 0);
    reasons.push(`ErrorRateExceeded: ${errors} of ${requests} requests failed (${(rate * 100).toFixed(2)}%), above --max-error-rate ${(r.settings.maxErrorRate * 100).toFixed(2)}%`);
    codes.push(5);
  }
  if (r.soak && r.soak.driftPct > r.settings.maxDriftPct) {
    reasons.push(`DriftExceeded: median latency drifted ${r.soak.driftPct}% from the first soak interval to the last, above --max-drift ${r.settings.maxDriftPct}%`);
    codes.push(6);
  }
  return { ok: codes.length === 0, exitCode: codes[0] ?? 0, reasons };
}

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_COLUMNS = [
  'phase', 'concurrency', 'rate', 'start_s', 'duration_s', 'requests', 'throughput', 'p50_ms', 'p90_ms', 'p95_ms', 'p99_ms', 'max_ms', 'mean_ms',
  'errors', 'errors_by_reason', 'server_queue_ms', 'server_compute_ms', 'server_batch_size', 'client_cpu', 'resident_bytes',
  'ttft_p50_ms', 'ttft_p90_ms', 'ttft_p99_ms', 'itl_p50_ms', 'itl_p99_ms', 'output_tokens', 'output_tokens_per_s', 'server_ttft_ms', 'server_itl_ms',
] as const;

/** A step's generation columns; empty for inference. */
function generationColumns(s: StepResult): unknown[] {
  const g = s.generation;
  if (!g) return ['', '', '', '', '', '', '', '', ''];
  return [g.ttftMs.p50, g.ttftMs.p90, g.ttftMs.p99, g.itlMs.p50, g.itlMs.p99, g.outputTokens, g.outputTokensPerS, s.server?.ttftMs, s.server?.itlMs];
}

/** One row per step, then one per soak interval. */
export function toCsv(r: PerfResults): string {
  const reasons = (e: Record<string, number>) => Object.entries(e).map(([k, v]) => `${k}=${v}`).join('; ');
  const rows: unknown[][] = [[...CSV_COLUMNS]];
  for (const s of r.steps) {
    rows.push(['step', s.concurrency, s.rate, '', s.durationS, s.requests, s.throughput, s.latencyMs.p50, s.latencyMs.p90, s.latencyMs.p95, s.latencyMs.p99, s.latencyMs.max, s.latencyMs.mean,
      s.errorCount, reasons(s.errors), s.server?.queueMs, s.server?.computeMs, s.server?.batchSize, s.clientCpu, '', ...generationColumns(s)]);
  }
  for (const iv of r.soak?.intervals ?? []) {
    rows.push(['soak', r.soak!.concurrency, r.soak!.rate, iv.startS, +(iv.endS - iv.startS).toFixed(3), iv.requests, iv.throughput, iv.latencyMs.p50, iv.latencyMs.p90, iv.latencyMs.p95, iv.latencyMs.p99, iv.latencyMs.max, iv.latencyMs.mean,
      iv.errorCount, reasons(iv.errors), iv.server?.queueMs, iv.server?.computeMs, iv.server?.batchSize, '', iv.residentBytes, '', '', '', '', '', '', '', '', '']);
  }
  return rows.map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}
