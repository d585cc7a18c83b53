// ModelStatistics: Triton's statistics extension over gRPC. The figures come from a transport-neutral snapshot in
// Triton's JSON shape (the body of GET /v2/models/{m}/stats), so both transports report the same numbers.
import { RuntimeError } from '../errors.js';
import type { RuntimeMetrics } from '../metrics.js';

export interface StatisticDuration {
  count: number;
  ns: number;
}

export interface ModelStats {
  name: string;
  version: string;
  /** Milliseconds since the epoch of the last inference; 0 before the first. */
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: {
    success: StatisticDuration;
    fail: StatisticDuration;
    queue: StatisticDuration;
    compute_input: StatisticDuration;
    compute_infer: StatisticDuration;
    compute_output: StatisticDuration;
  };
  batch_stats: { batch_size: number; compute_input: StatisticDuration; compute_infer: StatisticDuration; compute_output: StatisticDuration }[];
}

/** Triton's statistics JSON: `{"model_stats": [...]}`. */
export interface ModelStatsSnapshot {
  model_stats: ModelStats[];
}

/** Where the figures come from: the runtime's statistics, one snapshot per call. */
export type StatisticsProvider = () => ModelStatsSnapshot | Promise<ModelStatsSnapshot>;

/**
 * The ModelStatisticsResponse for a request: every model when `name` is empty, else that model (and version,
 * when given), NOT_FOUND otherwise. Counters travel as uint64 (decimal strings keep them exact).
 */
export function statisticsResponse(snapshot: ModelStatsSnapshot, name: string, version: string): { model_stats: unknown[] } {
  let stats = snapshot.model_stats;
  if (name !== '') {
    stats = stats.filter((s) => s.name === name);
    if (stats.length === 0) throw new RuntimeError('ModelNotFound', `unknown model "${name}"`);
    if (version !== '') {
      stats = stats.filter((s) => s.version === version);
      if (stats.length === 0) throw new RuntimeError('VersionNotFound', `model ${name} has no version "${version}"`);
    }
  }
  const u64 = (n: number) => String(Math.max(0, Math.round(n)));
  const duration = (d: StatisticDuration | undefined) => ({ count: u64(d?.count ?? 0), ns: u64(d?.ns ?? 0) });
  return {
    model_stats: stats.map((s) => ({
      name: s.name,
      version: s.version,
      last_inference: u64(s.last_inference),
      inference_count: u64(s.inference_count),
      execution_count: u64(s.execution_count),
      inference_stats: {
        success: duration(s.inference_stats.success),
        fail: duration(s.inference_stats.fail),
        queue: duration(s.inference_stats.queue),
        compute_input: duration(s.inference_stats.compute_input),
        compute_infer: duration(s.inference_stats.compute_infer),
        compute_output: duration(s.inference_stats.compute_output),
      },
      batch_stats: s.batch_stats.map((b) => ({
        batch_size: u64(b.batch_size),
        compute_input: duration(b.compute_input),
        compute_infer: duration(b.compute_infer),
        compute_output: duration(b.compute_output),
      })),
    })),
  };
}

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

function total(samples: Sample[], suffix: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => (s.metricName ?? '').endsWith(suffix) && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/**
 * A snapshot read from the Prometheus metrics, for a runtime without a statistics recorder: inference and
 * execution counts, successes and failures, queue and compute time are exact; what the metrics do not hold is
 * zero (last_inference, compute_input/compute_output, per-batch-size figures), and success.ns is the duration of
 * every request (failures are not timed apart).
 */
export async function statisticsFromMetrics(model: string, version: string, metrics: RuntimeMetrics): Promise<ModelStatsSnapshot> {
  const [requests, durations, queue, compute, rows] = (await Promise.all([
    metrics.requests.get(), metrics.requestSeconds.get(), metrics.queueSeconds.get(), metrics.computeSeconds.get(), metrics.batchSize.get(),
  ])).map((m) => m.values as Sample[]);
  const ns = (s: number) => s * 1e9;
  const byOutcome = (outcome: string) => requests.filter((s) => s.labels.outcome === outcome).reduce((n, s) => n + s.value, 0);
  const successes = byOutcome('success');
  const failures = byOutcome('client_error') + byOutcome('rejected') + byOutcome('failed');
  return {
    model_stats: [{
      name: model,
      version,
      last_inference: 0,
      inference_count: total(rows, '_sum'),
      execution_count: total(rows, '_count'),
      inference_stats: {
        success: { count: successes, ns: ns(total(durations, '_sum')) },
        fail: { count: failures, ns: 0 },
        queue: { count: total(queue, '_count'), ns: ns(total(queue, '_sum')) },
        compute_input: { count: 0, ns: 0 },
        compute_infer: { count: total(compute, '_count'), ns: ns(total(compute, '_sum')) },
        compute_output: { count: 0, ns: 0 },
      },
      batch_stats: [],
    }],
  };
}
