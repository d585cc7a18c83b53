// The `modelplane operator` process: settings from flags, then the operator until SIGTERM or SIGINT, or until
// it loses leadership, when it exits 1 at once so the pod restarts as a candidate (controller-runtime's way).
import { readFileSync } from 'node:fs';
import type { OperatorSettings } from '../settings.js';
import { createLogger } from '../../common/logger.js';
import { builtinAutoscalerLoop } from '../autoscaler/builtin.js';
import { DEFAULT_INFORMER_OPTIONS } from '../kube/informer.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { Operator } from './operator.js';

const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}


export async function runOperator(opts: OperatorSettings): Promise<void> {
  const log = createLogger('operator', opts.logLevel);
  const kc = loadKubeConfig(opts.kubeconfig);
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const le = opts.leaderElection;
  const ownNamespace = process.env.POD_NAMESPACE || inClusterNamespace() || contextNamespace || 'default';
  const leaseNamespace = (le && le.leaseNamespace) || ownNamespace;
  const gateway = opts.autoscaler.gateway && { selector: opts.autoscaler.gateway.selector, namespace: opts.autoscaler.gateway.namespace ?? ownNamespace };
  if (gateway) log.info('the built-in autoscaler reads the gateway pods', gateway);
  else log.info('the built-in autoscaler reads the runtime pods alone (no --gateway-selector)');
  const operator = new Operator({
    kubeConfig: kc,
    namespaces: opts.namespaces,
    config: opts.config,
    workers: opts.workers,
    metricsPort: opts.metricsPort,
    leaderElection: le ? { ...le, leaseNamespace, identity: process.env.POD_NAME || undefined } : false,
    resyncMs: opts.resyncMs,
    requestTimeoutMs: opts.requestTimeoutMs,
    informer: { ...DEFAULT_INFORMER_OPTIONS, watchTimeoutSeconds: opts.watchTimeoutSeconds },
    leaderLoops: [
      builtinAutoscalerLoop({
        intervalMs: opts.autoscaler.intervalMs,
        scrapeTimeoutMs: Math.min(1000, opts.autoscaler.intervalMs / 2),
        tuning: { stableWindowSeconds: opts.autoscaler.stableWindowMs / 1000, panicWindowSeconds: opts.autoscaler.panicWindowMs / 1000 },
        ...(gateway ? { gateway } : {}),
      }),
    ],
    logger: log,
    onLostLeadership: () => {
      // Nothing is drained and the lease is not touched: another replica may already lead.
      log.error('exiting: leadership lost', { exitCode: 1 });
      process.exitCode = 1;
      setImmediate(() => process.exit(1));
    },
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    operator.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { error: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await operator.start();
  if (operator.healthPort !== undefined) log.info('health and metrics listening', { port: operator.healthPort });
  // The operator runs until a signal; the open watches and timers keep the process alive.
  await new Promise<void>(() => undefined);
}
