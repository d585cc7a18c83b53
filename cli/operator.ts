// `modelplane operator`: run the controller against the current kubeconfig (or in-cluster credentials).
// Every setting is a flag and a MODELPLANE_* environment variable (the chart sets the flags).
import { Command, InvalidArgumentError, Option } from 'commander';
import type { OperatorSettings } from '../operator/settings.js';

export type { OperatorSettings };
import { checkLeaderElectionTimings } from '../operator/kube/leader-election-timings.js';
import { durationArg } from './arg-parsers.js';
import { addRuntimeConfigOptions, collect, int, runtimeConfigFrom, type RuntimeConfigFlags } from './runtime-config.js';

const bool = (value: string | boolean): boolean => {
  if (typeof value === 'boolean') return value;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new InvalidArgumentError('must be true or false');
};

/** A value that must not be empty (an empty selector would select every pod). */
const nonEmpty = (name: string) => (value: string): string => {
  if (value.trim() === '') throw new InvalidArgumentError(`${name}: must not be empty`);
  return value.trim();
};

/** A duration in milliseconds from `15` (seconds), `15s`, `1.5s`, `500ms`, `2m` or `1m30s`, as Go writes them. */
export const duration = (name: string, minMs: number) => durationArg(name, { minMs });

/** The parsed flags of `modelplane operator`. */
export interface OperatorCliOptions extends RuntimeConfigFlags {
  kubeconfig?: string;
  namespace?: string[];
  workers: number;
  metricsPort: number;
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace?: string;
  leaderElectLeaseDuration: number;
  leaderElectRenewDeadline: number;
  leaderElectRetryPeriod: number;
  resyncSeconds: number;
  apiTimeout: number;
  watchTimeoutSeconds: number;
  autoscaleInterval: number;
  autoscaleStableWindow: number;
  autoscalePanicWindow: number;
  gatewaySelector?: string;
  gatewayNamespace?: string;
  logLevel: string;
}


/** What an error about leader-election timings calls each one: its flag. */
const LEADER_ELECTION_FLAGS = { leaseDurationMs: '--leader-elect-lease-duration', renewDeadlineMs: '--leader-elect-renew-deadline', retryPeriodMs: '--leader-elect-retry-period' };

export function operatorSettings(o: OperatorCliOptions): OperatorSettings {
  const leaderElection = o.leaderElect
    ? { leaseName: o.leaseName, leaseNamespace: o.leaseNamespace, leaseDurationMs: o.leaderElectLeaseDuration, renewDeadlineMs: o.leaderElectRenewDeadline, retryPeriodMs: o.leaderElectRetryPeriod }
    : false;
  if (leaderElection) checkLeaderElectionTimings(leaderElection, LEADER_ELECTION_FLAGS, '');
  if (o.autoscalePanicWindow > o.autoscaleStableWindow) throw new Error('--autoscale-panic-window must not be longer than --autoscale-stable-window');
  if (o.gatewayNamespace !== undefined && !o.gatewaySelector) throw new Error('--gateway-namespace needs --gateway-selector: the namespace alone does not say which pods are the gateway');
  const gateway = o.gatewaySelector ? { selector: o.gatewaySelector, ...(o.gatewayNamespace ? { namespace: o.gatewayNamespace } : {}) } : undefined;
  return {
    kubeconfig: o.kubeconfig,
    namespaces: [...new Set(o.namespace ?? [])],
    config: runtimeConfigFrom(o),
    workers: o.workers,
    metricsPort: o.metricsPort,
    leaderElection,
    resyncMs: o.resyncSeconds * 1000,
    requestTimeoutMs: o.apiTimeout,
    watchTimeoutSeconds: o.watchTimeoutSeconds,
    autoscaler: { intervalMs: o.autoscaleInterval, stableWindowMs: o.autoscaleStableWindow, panicWindowMs: o.autoscalePanicWindow, ...(gateway ? { gateway } : {}) },
    logLevel: o.logLevel,
  };
}

export function operatorCommand(version = '0.0.0'): Command {
  const cmd = new Command('operator')
    .description('Run the ModelDeployment controller against the current kubeconfig or in-cluster credentials')
    .addOption(new Option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)').env('MODELPLANE_KUBECONFIG'))
    .addOption(new Option('-n, --namespace <namespace>', 'watch this namespace; repeat or comma-separate for several (default: all namespaces)').env('MODELPLANE_NAMESPACE').argParser(collect))
    .addOption(new Option('--workers <n>', 'ModelDeployments reconciled in parallel').env('MODELPLANE_WORKERS').argParser(int('--workers', 1, 1000)).default(4))
    .addOption(new Option('--metrics-port <port>', 'port of /metrics, /healthz and /readyz (0: any free port)').env('MODELPLANE_METRICS_PORT').argParser(int('--metrics-port', 0, 65535)).default(8081))
    .addOption(new Option('--leader-elect [enabled]', 'elect a leader through a Lease so only one replica reconciles').env('MODELPLANE_LEADER_ELECT').argParser(bool).preset(true).default(true))
    .addOption(new Option('--lease-name <name>', 'name of the leader election Lease').env('MODELPLANE_LEASE_NAME').default('modelplane-operator'))
    .addOption(new Option('--lease-namespace <namespace>', 'namespace of the Lease (default: $POD_NAMESPACE, the in-cluster namespace, the kubeconfig namespace)').env('MODELPLANE_LEASE_NAMESPACE'))
    .addOption(new Option('--leader-elect-lease-duration <duration>', 'how long a standby waits after the last renewal before taking the lease').env('MODELPLANE_LEADER_ELECT_LEASE_DURATION').argParser(duration('--leader-elect-lease-duration', 100)).default(15_000, '15s'))
    .addOption(new Option('--leader-elect-renew-deadline <duration>', 'the leader gives up (and exits) when it has not renewed the lease for this long').env('MODELPLANE_LEADER_ELECT_RENEW_DEADLINE').argParser(duration('--leader-elect-renew-deadline', 50)).default(10_000, '10s'))
    .addOption(new Option('--leader-elect-retry-period <duration>', 'time between lease renewals and acquisition attempts').env('MODELPLANE_LEADER_ELECT_RETRY_PERIOD').argParser(duration('--leader-elect-retry-period', 10)).default(2_000, '2s'))
    .addOption(new Option('--resync-seconds <s>', 'reconcile every ModelDeployment this often even without changes (0: never)').env('MODELPLANE_RESYNC_SECONDS').argParser(int('--resync-seconds', 0)).default(300))
    .addOption(new Option('--api-timeout <duration>', 'deadline of every Kubernetes API request').env('MODELPLANE_API_TIMEOUT').argParser(duration('--api-timeout', 100)).default(30_000, '30s'))
    .addOption(new Option('--watch-timeout-seconds <s>', 'server-side timeout of each watch; a watch silent for longer (plus a minute) is restarted').env('MODELPLANE_WATCH_TIMEOUT_SECONDS').argParser(int('--watch-timeout-seconds', 1, 3600)).default(300))
    .addOption(new Option('--autoscale-interval <duration>', 'built-in autoscaler: time between decisions (scrapes of the runtime pods)').env('MODELPLANE_AUTOSCALE_INTERVAL').argParser(duration('--autoscale-interval', 100)).default(2_000, '2s'))
    .addOption(new Option('--autoscale-stable-window <duration>', 'built-in autoscaler: load averaged over this long for ordinary decisions').env('MODELPLANE_AUTOSCALE_STABLE_WINDOW').argParser(duration('--autoscale-stable-window', 1000)).default(60_000, '60s'))
    .addOption(new Option('--autoscale-panic-window <duration>', 'built-in autoscaler: load averaged over this long to detect a spike').env('MODELPLANE_AUTOSCALE_PANIC_WINDOW').argParser(duration('--autoscale-panic-window', 100)).default(6_000, '6s'))
    .addOption(new Option('--gateway-selector <selector>', 'built-in autoscaler: label selector of the gateway pods, whose requests in flight and held per model join the load (default: none, the runtime pods alone)').env('MODELPLANE_GATEWAY_SELECTOR').argParser(nonEmpty('--gateway-selector')))
    .addOption(new Option('--gateway-namespace <namespace>', 'namespace of the gateway pods (default: the operator\'s own)').env('MODELPLANE_GATEWAY_NAMESPACE').argParser(nonEmpty('--gateway-namespace')))
    .addOption(new Option('--log-level <level>', 'log level of the operator').choices(['error', 'warn', 'info', 'debug']).env('MODELPLANE_LOG_LEVEL').default('info'));
  return addRuntimeConfigOptions(cmd, version);
}

export function registerOperator(program: Command, version = '0.0.0'): void {
  program.addCommand(
    operatorCommand(version).action(async (opts: OperatorCliOptions) => {
      const settings = operatorSettings(opts);
      // A flat footprint within the pod's memory limit: a smaller old-generation growth step (with the bin's
      // 2 MB semi-spaces) keeps V8 from growing its heap far past what the caches hold during a burst.
      (await import('node:v8')).setFlagsFromString('--heap-growing-percent=20');
      const { runOperator } = await import('../operator/controller/main.js');
      await runOperator(settings);
    }),
  );
}
