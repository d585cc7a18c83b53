// One catalogue of the ways `modelplane perf` can fail, each with a stable reason code and its exit code.

export const PERF_REASONS = {
  InvalidArgument: 2,
  Unreachable: 3,
  ModelUnavailable: 4,
  ErrorRateExceeded: 5,
  DriftExceeded: 6,
  ProtocolUnavailable: 7,
} as const;

export type PerfReason = keyof typeof PERF_REASONS;

/** Exit code for anything that is not a PerfError (a bug, or an error nobody classified). */
export const UNEXPECTED_EXIT_CODE = 1;

export class PerfError extends Error {
  readonly exitCode: number;
  constructor(readonly reason: PerfReason, message: string) {
    super(message);
    this.name = 'PerfError';
    this.exitCode = PERF_REASONS[reason];
  }
}

export function invalid(message: string): never {
  throw new PerfError('InvalidArgument', message);
}
