// `modelplane gateway`: the data path in front of every model in a cluster (or one namespace). Every setting is a
// flag and a MODELPLANE_* environment variable (the chart sets the flags); the work is in gateway/cluster-main.ts.
import { Command, Option } from 'commander';
import { LOG_LEVELS } from '../common/logger.js';
import { SERVE_DEFAULTS } from '../common/serve-contract.js';
import type { ClusterGatewaySettings } from '../gateway/cluster-main.js';
import { gatewayOptions, gatewaySettings, type GatewayCliOptions } from './gateway-flags.js';
import { durationArg, integerArg, settingsOrExit } from './arg-parsers.js';
import { collect } from './runtime-config.js';

/** The parsed flags of `modelplane gateway` (the hold queue's and the keys' from the table local mode shares). */
export interface ClusterGatewayCliOptions extends GatewayCliOptions {
  kubeconfig?: string;
  namespace?: string[];
  host: string;
  port: number;
  grpcPort: number;
  healthPort: number;
  maxBodyBytes: number;
  upstreamTimeout: number;
  apiTimeout: number;
  watchTimeoutSeconds: number;
  drainTimeout: number;
  logLevel: string;
}

/** What the gateway runs with, from its flags alone; an Error naming the flag for a bad combination. */
export function clusterGatewaySettings(o: ClusterGatewayCliOptions): ClusterGatewaySettings {
  const ports = [['--port', o.port], ['--grpc-port', o.grpcPort], ['--health-port', o.healthPort]] as const;
  for (const [i, [flag, port]] of ports.entries()) {
    const same = ports.slice(i + 1).find(([, other]) => port !== 0 && other === port);
    if (same) throw new Error(`${flag} and ${same[0]}: both ${port}; each listener needs its own port`);
  }
  const shared = gatewaySettings(o);
  return {
    ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
    namespaces: [...new Set(o.namespace ?? [])],
    host: o.host,
    port: o.port,
    grpcPort: o.grpcPort,
    healthPort: o.healthPort,
    activationTimeoutMs: shared.activationTimeoutMs,
    maxHeldRequests: shared.maxHeldRequests,
    maxBodyBytes: o.maxBodyBytes,
    upstreamTimeoutMs: o.upstreamTimeout,
    ...(shared.apiKeysPath ? { apiKeys: shared.apiKeysPath } : {}),
    requestTimeoutMs: o.apiTimeout,
    watchTimeoutSeconds: o.watchTimeoutSeconds,
    drainTimeoutMs: o.drainTimeout,
    logLevel: o.logLevel,
  };
}

const port = (flag: string, min = 0) => integerArg(flag, { min, max: 65535 });

export function gatewayCommand(): Command {
  const cmd = new Command('gateway')
    .description('Route Open Inference Protocol and OpenAI requests by model name to ready runtime pods, hold them while a deployment scales from zero, check API keys')
    .addOption(new Option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)').env('MODELPLANE_KUBECONFIG'))
    .addOption(new Option('-n, --namespace <namespace>', 'route to the ModelDeployments of this namespace; repeat or comma-separate for several (default: all namespaces)').env('MODELPLANE_NAMESPACE').argParser(collect))
    .addOption(new Option('--host <address>', 'address the listeners bind').env('MODELPLANE_GATEWAY_HOST').default('0.0.0.0'))
    .addOption(new Option('--port <port>', 'HTTP port of the data path (0: any free port)').env('MODELPLANE_GATEWAY_PORT').argParser(port('--port')).default(8080))
    .addOption(new Option('--grpc-port <port>', 'gRPC port of the data path (0: no gRPC)').env('MODELPLANE_GATEWAY_GRPC_PORT').argParser(port('--grpc-port')).default(8081))
    .addOption(new Option('--health-port <port>', 'port of /healthz, /readyz and /metrics, unauthenticated (0: any free port)').env('MODELPLANE_GATEWAY_HEALTH_PORT').argParser(port('--health-port')).default(9090))
    .addOption(new Option('--max-body-bytes <n>', 'largest request body; larger answers 413').env('MODELPLANE_MAX_BODY_BYTES').argParser(integerArg('--max-body-bytes', { min: 1 })).default(SERVE_DEFAULTS.maxBodyBytes))
    .addOption(new Option('--upstream-timeout <duration>', 'longest wait for a replica\'s answer to one request').env('MODELPLANE_UPSTREAM_TIMEOUT').argParser(durationArg('--upstream-timeout', { minMs: 100 })).default(300_000, '300s'))
    .addOption(new Option('--api-timeout <duration>', 'deadline of every Kubernetes API request').env('MODELPLANE_API_TIMEOUT').argParser(durationArg('--api-timeout', { minMs: 100 })).default(30_000, '30s'))
    .addOption(new Option('--watch-timeout-seconds <s>', 'server-side timeout of each watch; a watch silent for longer (plus a minute) is restarted').env('MODELPLANE_WATCH_TIMEOUT_SECONDS').argParser(integerArg('--watch-timeout-seconds', { min: 1, max: 3600 })).default(300))
    .addOption(new Option('--drain-timeout <duration>', 'on SIGTERM, longest wait for requests in flight before exiting').env('MODELPLANE_DRAIN_TIMEOUT').argParser(durationArg('--drain-timeout', { minMs: 0 })).default(30_000, '30s'))
    .addOption(new Option('--log-level <level>', 'level of the JSON log lines').choices(LOG_LEVELS).env('MODELPLANE_LOG_LEVEL').default('info'));
  for (const option of gatewayOptions()) cmd.addOption(option);
  return cmd;
}

export function registerGateway(program: Command, version: string): void {
  program.addCommand(
    gatewayCommand().action(async (o: ClusterGatewayCliOptions) => {
      const settings = settingsOrExit('gateway', () => clusterGatewaySettings(o));
      const { runClusterGateway } = await import('../gateway/cluster-main.js');
      await runClusterGateway(settings, version);
    }),
  );
}
