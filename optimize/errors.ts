// One catalogue of the ways `modelplane optimize` can refuse or fail: a stable reason code and an exit code each.
import { ModelFileError } from '../common/onnx-model.js';

export const OPTIMIZE_REASONS = {
  InvalidArgument: { exitCode: 2 },
  InvalidModel: { exitCode: 3 },
  UnsupportedModel: { exitCode: 4 },
  AccuracyGateFailed: { exitCode: 5 },
  IoError: { exitCode: 6 },
  OptimizationFailed: { exitCode: 7 },
  SpeedGateFailed: { exitCode: 8 },
} as const;

export type OptimizeReason = keyof typeof OPTIMIZE_REASONS;

/** Exit code for anything that is not an OptimizeError. */
export const UNEXPECTED_EXIT_CODE = 1;

export class OptimizeError extends Error {
  constructor(readonly reason: OptimizeReason, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OptimizeError';
  }
}

export function isOptimizeError(err: unknown): err is OptimizeError {
  return err instanceof OptimizeError;
}

/** An error as the optimiser reports it: a model file the reader refused keeps its reason (they are the optimiser's). */
export function asOptimizeError(err: unknown): unknown {
  return err instanceof ModelFileError ? new OptimizeError(err.reason, err.message, { cause: err }) : err;
}

export function optimizeExitCode(err: unknown): number {
  return isOptimizeError(err) ? OPTIMIZE_REASONS[err.reason].exitCode : UNEXPECTED_EXIT_CODE;
}
