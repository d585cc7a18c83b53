// What perf prints while it runs: a progress line a second (terminal only), the client CPU check, and the
// summary table at the end.
import type { StepResult } from './results.js';

export interface ProgressSample {
  label: string;
  elapsedS: number;
  totalS: number;
  /** Answers in the last second. */
  rate: number;
  p99Ms: number;
  errors: number;
  inflight: number;
  backlog: number;
}

export function progressLine(p: ProgressSample): string {
  const backlog = p.backlog > 0 ? `  backlog ${p.backlog}` : '';
  return `${p.label.padEnd(16)} ${String(Math.round(p.elapsedS)).padStart(4)}/${Math.round(p.totalS)}s  ${p.rate.toFixed(0).padStart(7)} req/s  p99 ${p99(p.p99Ms)}  errors ${p.errors}  in flight ${p.inflight}${backlog}`;
}

const p99 = (ms: number) => `${ms.toFixed(ms < 10 ? 2 : 1)} ms`.padStart(9);

/** Above this share of one core the client itself may be what limits the figures. */
export const CLIENT_CPU_LIMIT = 0.85;

/** Share of one core used between two process.cpuUsage() readings over a wall-clock interval. */
export function cpuShare(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage, wallMs: number): number {
  const usedUs = after.user - before.user + (after.system - before.system);
  return wallMs <= 0 ? 0 : Math.round((usedUs / 1000 / wallMs) * 100) / 100;
}

export function clientCpuWarning(label: string, share: number): string | undefined {
  if (share < CLIENT_CPU_LIMIT) return undefined;
  return `the load generator used ${Math.round(share * 100)}% of a CPU core during ${label}: the client may be the bottleneck and the figures a floor; run perf on another machine or with fewer callers`;
}

const f = (v: number | null | undefined, d = 3) => (v === null || v === undefined ? '-' : v.toFixed(d));
const loadLabel = (s: StepResult) => (s.concurrency !== undefined ? `concurrency ${s.concurrency}` : `rate ${s.rate}/s`);

/** The summary table on stdout, one row per step (perf_analyzer's columns, plus the server's; genai-perf's for --generate). */
export function summaryTable(steps: StepResult[]): string {
  if (steps.some((s) => s.generation)) return table(GENERATION_HEAD, steps.map(generationRow));
  const head = ['load', 'req/s', 'p50 ms', 'p90 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors', 'srv queue ms', 'srv compute ms', 'batch'];
  const rows = steps.map((s) => [
    loadLabel(s), f(s.throughput, 1), f(s.latencyMs.p50), f(s.latencyMs.p90), f(s.latencyMs.p95), f(s.latencyMs.p99), f(s.latencyMs.max),
    String(s.errorCount), f(s.server?.queueMs), f(s.server?.computeMs), f(s.server?.batchSize, 2),
  ]);
  return table(head, rows);
}

const GENERATION_HEAD = ['load', 'req/s', 'out tok/s', 'TTFT p50', 'TTFT p90', 'TTFT p99', 'ITL p50', 'ITL p99', 'e2e p50', 'e2e p99', 'errors', 'srv queue ms', 'srv TTFT ms', 'srv ITL ms', 'batch'];

function generationRow(s: StepResult): string[] {
  const g = s.generation;
  return [
    loadLabel(s), f(g?.requestsPerS, 1), f(g?.outputTokensPerS, 1), f(g?.ttftMs.p50), f(g?.ttftMs.p90), f(g?.ttftMs.p99), f(g?.itlMs.p50), f(g?.itlMs.p99),
    f(s.latencyMs.p50), f(s.latencyMs.p99), String(s.errorCount), f(s.server?.queueMs), f(s.server?.ttftMs), f(s.server?.itlMs), f(s.server?.batchSize, 2),
  ];
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}
