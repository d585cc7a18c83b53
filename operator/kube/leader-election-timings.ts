// The timing rule of Lease-based leader election, apart from the elector so that the CLI can check its flags
// without loading the Kubernetes client.

export interface LeaderElectionTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

const TIMING_NAMES: Record<keyof LeaderElectionTimings, string> = {
  leaseDurationMs: 'the lease duration',
  renewDeadlineMs: 'the renew deadline',
  retryPeriodMs: 'the retry period',
};

/**
 * The timings client-go and controller-runtime require: lease > renew deadline > retry period. An error names
 * each timing by `names` after `prefix` (the CLI passes its flag names and no prefix).
 */
export function checkLeaderElectionTimings(o: LeaderElectionTimings, names = TIMING_NAMES, prefix = 'leader election: '): void {
  if (!(o.retryPeriodMs > 0)) throw new Error(`${prefix}${names.retryPeriodMs} must be positive`);
  if (!(o.renewDeadlineMs > o.retryPeriodMs)) throw new Error(`${prefix}${names.renewDeadlineMs} must be longer than ${names.retryPeriodMs}`);
  if (!(o.leaseDurationMs > o.renewDeadlineMs)) throw new Error(`${prefix}${names.leaseDurationMs} must be longer than ${names.renewDeadlineMs}`);
}
