// `modelplane operator`: run the controller against the current kubeconfig (or in-cluster credentials).
import { Command, InvalidArgumentError, Option } from 'commander';
import type { RunOptions } from '../operator/controller/main.js';

const int = (name: string, min: number) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};

const seconds = (name: string, min: number) => (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number of seconds >= ${min}`);
  return n;
};

const bool = (value: string | boolean): boolean => {
  if (typeof value === 'boolean') return value;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new InvalidArgumentError('must be true or false');
};

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter(Boolean)];

/** The parsed flags are exactly the operator process's options (a type-only import: nothing loads early). */
export type OperatorCliOptions = RunOptions;

export function registerOperator(program: Command, version = '0.0.0'): void {
  program
    .command('operator')
    .description('Run the ModelDeployment controller against the current kubeconfig or in-cluster credentials')
    .addOption(new Option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)').env('MODELPLANE_KUBECONFIG'))
    .addOption(new Option('-n, --namespace <namespace>', 'watch this namespace (repeat or comma-separate for several; default: all namespaces)').env('MODELPLANE_NAMESPACE').argParser(collect))
    .addOption(new Option('--runtime-image <image>', 'runtime image when spec.runtime.image is not set').env('MODELPLANE_RUNTIME_IMAGE').default(`ghcr.io/modelplane/runtime:${version}`))
    .addOption(new Option('--runtime-gpu-image <image>', 'runtime image for ModelDeployments with spec.gpu (default: --runtime-image)').env('MODELPLANE_RUNTIME_GPU_IMAGE'))
    .addOption(new Option('--runtime-resources <json>', 'runtime container resources (JSON ResourceRequirements) when spec.resources is not set').env('MODELPLANE_RUNTIME_RESOURCES'))
    .addOption(new Option('--workers <n>', 'ModelDeployments reconciled in parallel').env('MODELPLANE_WORKERS').argParser(int('--workers', 1)).default(4))
    .addOption(new Option('--metrics-port <port>', 'port of /metrics, /healthz and /readyz (0: any free port)').env('MODELPLANE_METRICS_PORT').argParser(int('--metrics-port', 0)).default(8081))
    .addOption(new Option('--leader-elect [enabled]', 'elect a leader through a Lease so only one replica reconciles').env('MODELPLANE_LEADER_ELECT').argParser(bool).preset(true).default(true))
    .addOption(new Option('--lease-name <name>', 'name of the leader election Lease').env('MODELPLANE_LEASE_NAME').default('modelplane-operator'))
    .addOption(new Option('--lease-namespace <namespace>', 'namespace of the Lease (default: $POD_NAMESPACE, the in-cluster namespace, the kubeconfig namespace)').env('MODELPLANE_LEASE_NAMESPACE'))
    .addOption(new Option('--resync-seconds <s>', 'reconcile every ModelDeployment this often even without changes (0: never)').env('MODELPLANE_RESYNC_SECONDS').argParser(int('--resync-seconds', 0)).default(300))
    .addOption(new Option('--autoscale-interval <s>', 'built-in autoscaler: seconds between decisions (scrapes of the runtime pods)').env('MODELPLANE_AUTOSCALE_INTERVAL').argParser(seconds('--autoscale-interval', 0.1)).default(2))
    .addOption(new Option('--autoscale-stable-window <s>', 'built-in autoscaler: seconds of load averaged for ordinary decisions').env('MODELPLANE_AUTOSCALE_STABLE_WINDOW').argParser(seconds('--autoscale-stable-window', 1)).default(60))
    .addOption(new Option('--autoscale-panic-window <s>', 'built-in autoscaler: seconds of load averaged to detect a spike').env('MODELPLANE_AUTOSCALE_PANIC_WINDOW').argParser(seconds('--autoscale-panic-window', 0.1)).default(6))
    .addOption(new Option('--prometheus-address <url>', 'Prometheus that KEDA ScaledObjects query (spec.autoscaling.mode keda)').env('MODELPLANE_PROMETHEUS_ADDRESS').default('http://prometheus-operated.monitoring.svc:9090'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['error', 'warn', 'info', 'debug']).env('MODELPLANE_LOG_LEVEL').default('info'))
    .action(async (opts: OperatorCliOptions) => {
      const { runOperator } = await import('../operator/controller/main.js');
      await runOperator(opts);
    });
}
