// ModelStatistics: Triton's statistics extension over gRPC. The figures are the runtime's own (runtime/statistics.ts,
// the body of GET /v2/models/{m}/stats), so both transports report the same numbers; gRPC carries the counters as
// uint64, sent here as decimal strings so they stay exact.
import type { ModelStatistics, StatDuration } from '../statistics.js';

/** The ModelStatisticsResponse for statistics in Triton's JSON shape. */
export function grpcStatistics(stats: readonly ModelStatistics[]): { model_stats: unknown[] } {
  const u64 = (n: number) => String(Math.max(0, Math.round(n)));
  const duration = (d: StatDuration) => ({ count: u64(d.count), ns: u64(d.ns) });
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
