// Everything the operator process runs with: `modelplane operator` decides it from flags and environment.
import type { OperatorConfig } from './resources/config.js';

/** Everything the operator process runs with, decided from the flags alone (pure, so it can be tested). */
export interface OperatorSettings {
  kubeconfig?: string;
  namespaces: string[];
  config: OperatorConfig;
  workers: number;
  metricsPort: number;
  leaderElection: false | { leaseName: string; leaseNamespace?: string; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  resyncMs: number;
  requestTimeoutMs: number;
  watchTimeoutSeconds: number;
  /** The built-in autoscaler (spec.autoscaling.mode builtin), run by the leader. */
  autoscaler: {
    intervalMs: number;
    stableWindowMs: number;
    panicWindowMs: number;
    /**
     * The gateway pods whose per-model requests in flight and held join the load (--gateway-selector); the namespace
     * defaults to the operator's own. Absent: the runtime pods alone.
     */
    gateway?: { selector: string; namespace?: string };
  };
  logLevel: string;
}
