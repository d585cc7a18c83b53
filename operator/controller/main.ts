// The `modelplane operator` process: configuration from flags, then the operator until SIGTERM or SIGINT.
import { readFileSync } from 'node:fs';
import { KubeConfig, type V1ResourceRequirements } from '@kubernetes/client-node';
import { createLogger } from '../../common/logger.js';
import { Operator } from './operator.js';

export interface RunOptions {
  kubeconfig?: string;
  namespace?: string[];
  runtimeImage: string;
  runtimeGpuImage?: string;
  runtimeResources?: string;
  workers: number;
  metricsPort: number;
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace?: string;
  resyncSeconds: number;
  logLevel: string;
  autoscaleInterval: number;
  autoscaleStableWindow: number;
  autoscalePanicWindow: number;
  prometheusAddress?: string;
}

const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod');
  return kc;
}

function parseResources(json: string | undefined): V1ResourceRequirements | undefined {
  if (!json) return undefined;
  try {
    const value = JSON.parse(json) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return Object.keys(value).length ? (value as V1ResourceRequirements) : undefined;
  } catch (err) {
    throw new Error(`--runtime-resources: invalid JSON ResourceRequirements: ${(err as Error).message}`);
  }
}

export async function runOperator(opts: RunOptions): Promise<void> {
  const log = createLogger('operator', opts.logLevel);
  const kc = loadKubeConfig(opts.kubeconfig);
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const leaseNamespace = opts.leaseNamespace || process.env.POD_NAMESPACE || inClusterNamespace() || contextNamespace || 'default';
  const operator = new Operator({
    kubeConfig: kc,
    namespaces: opts.namespace,
    config: { runtimeImage: opts.runtimeImage, runtimeGpuImage: opts.runtimeGpuImage, defaultResources: parseResources(opts.runtimeResources), prometheusAddress: opts.prometheusAddress },
    workers: opts.workers,
    metricsPort: opts.metricsPort,
    leaderElection: opts.leaderElect ? { leaseName: opts.leaseName, leaseNamespace, identity: process.env.POD_NAME || undefined } : false,
    resyncMs: opts.resyncSeconds * 1000,
    autoscaler: {
      intervalMs: opts.autoscaleInterval * 1000,
      scrapeTimeoutMs: Math.min(1000, opts.autoscaleInterval * 500),
      tuning: { stableWindowSeconds: opts.autoscaleStableWindow, panicWindowSeconds: opts.autoscalePanicWindow },
    },
    logger: log,
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
