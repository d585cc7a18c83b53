// The server's side of a step, from its Prometheus /metrics scraped before and after: mean queue time per
// request, mean compute time per model run and mean rows per run, from the histograms' _sum and _count. A runtime
// exports them itself; local mode's router exports them summed over the model's replicas, with each replica's
// resident memory, so the breakdown is the same through the router.

import { fetchMetricsText, parsePrometheusText, type PromSample } from '../common/prometheus-text.js';

export const SERVER_HISTOGRAMS = {
  queue: 'modelplane_inference_queue_duration_seconds',
  compute: 'modelplane_inference_compute_duration_seconds',
  batch: 'modelplane_inference_batch_size',
} as const;

/** What the runtime's generation engine exports: the breakdown of a --generate step. */
export const GENERATION_HISTOGRAMS = {
  queue: 'modelplane_generation_queue_duration_seconds',
  ttft: 'modelplane_generation_time_to_first_token_seconds',
  itl: 'modelplane_generation_inter_token_latency_seconds',
  batch: 'modelplane_generation_batch_size',
} as const;

export interface SumCount {
  sum: number;
  count: number;
}

export interface ServerSnapshot {
  queue?: SumCount;
  compute?: SumCount;
  batch?: SumCount;
  generation?: { queue?: SumCount; ttft?: SumCount; itl?: SumCount; batch?: SumCount };
  residentBytes?: number;
}

/** A histogram's _sum and _count for one model (series without a model label count too, e.g. behind a router). */
function sumCount(samples: PromSample[], metric: string, model: string): SumCount | undefined {
  let sum = 0;
  let count = 0;
  let found = false;
  for (const s of samples) {
    if (s.labels.model !== undefined && s.labels.model !== model) continue;
    if (s.name === `${metric}_sum`) {
      sum += s.value;
      found = true;
    } else if (s.name === `${metric}_count`) count += s.value;
  }
  return found ? { sum, count } : undefined;
}

/** Resident memory of each replica behind local mode's router, which sums the runtime's metrics over them. */
export const REPLICA_RSS_METRIC = 'modelplane_local_replica_resident_memory_bytes';

/** The server's resident memory: the process's own, or behind local mode's router the sum over the model's replicas. */
function residentBytes(samples: PromSample[], model: string): number | undefined {
  const own = samples.filter((s) => s.name === 'process_resident_memory_bytes');
  if (own.length) return own.reduce((n, s) => n + s.value, 0);
  const replicas = samples.filter((s) => s.name === REPLICA_RSS_METRIC && s.labels.model === model);
  return replicas.length ? replicas.reduce((n, s) => n + s.value, 0) : undefined;
}

export function serverSnapshot(text: string, model: string): ServerSnapshot {
  const samples = parsePrometheusText(text);
  const generation = {
    queue: sumCount(samples, GENERATION_HISTOGRAMS.queue, model),
    ttft: sumCount(samples, GENERATION_HISTOGRAMS.ttft, model),
    itl: sumCount(samples, GENERATION_HISTOGRAMS.itl, model),
    batch: sumCount(samples, GENERATION_HISTOGRAMS.batch, model),
  };
  return {
    queue: sumCount(samples, SERVER_HISTOGRAMS.queue, model),
    compute: sumCount(samples, SERVER_HISTOGRAMS.compute, model),
    batch: sumCount(samples, SERVER_HISTOGRAMS.batch, model),
    ...(Object.values(generation).some((h) => h !== undefined) ? { generation } : {}),
    residentBytes: residentBytes(samples, model),
  };
}

/** Whether the snapshot holds any of a modelplane runtime's inference (or generation) histograms for the model. */
export function hasServerHistograms(s: ServerSnapshot, generation = false): boolean {
  if (generation) return Object.values(s.generation ?? {}).some((h) => h !== undefined);
  return s.queue !== undefined || s.compute !== undefined || s.batch !== undefined;
}

export interface ServerBreakdown {
  /** Mean time a request waited in the server's queue, ms. */
  queueMs: number | null;
  /** Mean time of one model run (one batch), ms. */
  computeMs: number | null;
  /** Mean rows per model run (for generation, sequences per decode step). */
  batchSize: number | null;
  /** Generation: mean time to first token and between tokens, as the server saw them, ms. */
  ttftMs?: number | null;
  itlMs?: number | null;
}

function meanDelta(a: SumCount | undefined, b: SumCount | undefined, scale: number): number | null {
  if (!a || !b) return null;
  const count = b.count - a.count;
  if (count <= 0) return null;
  return Math.round(((b.sum - a.sum) / count) * scale * 1000) / 1000;
}

/** The step's server figures; null when the server does not export the histograms (not a modelplane runtime). */
export function serverBreakdown(before: ServerSnapshot | undefined, after: ServerSnapshot | undefined): ServerBreakdown | null {
  if (!before || !after) return null;
  const r = { queueMs: meanDelta(before.queue, after.queue, 1000), computeMs: meanDelta(before.compute, after.compute, 1000), batchSize: meanDelta(before.batch, after.batch, 1) };
  return r.queueMs === null && r.computeMs === null && r.batchSize === null ? null : r;
}

/** A generation step's server figures: queue wait before a sequence started, TTFT, inter-token latency, decode batch. */
export function generationBreakdown(before: ServerSnapshot | undefined, after: ServerSnapshot | undefined): ServerBreakdown | null {
  const a = before?.generation;
  const b = after?.generation;
  if (!a || !b) return null;
  const r = { queueMs: meanDelta(a.queue, b.queue, 1000), computeMs: null, batchSize: meanDelta(a.batch, b.batch, 1), ttftMs: meanDelta(a.ttft, b.ttft, 1000), itlMs: meanDelta(a.itl, b.itl, 1000) };
  return r.queueMs === null && r.batchSize === null && r.ttftMs === null && r.itlMs === null ? null : r;
}

/** GETs /metrics with a deadline; undefined when it cannot (the breakdown is then left out, with a warning). */
export async function scrapeMetrics(url: string, model: string, timeoutMs = 5000): Promise<ServerSnapshot | undefined> {
  try {
    return serverSnapshot(await fetchMetricsText(url, timeoutMs), model);
  } catch {
    return undefined;
  }
}
