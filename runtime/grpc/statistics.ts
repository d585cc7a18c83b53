// ModelStatistics: Triton's statistics extension over gRPC. The figures come from a transport-neutral snapshot in
// Triton's JSON shape (the body of GET /v2/models/{m}/stats), so both transports report the same numbers.
import { RuntimeError } from '../errors.js';
import { unknownModel } from '../server.js';

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
    if (stats.length === 0) throw unknownModel(name);
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
