// The `modelplane gateway` process in a cluster: the cluster Directory (informers over ModelDeployments and
// EndpointSlices), the data path on --port (HTTP) and --grpc-port (gRPC), health and metrics on --health-port
// (/healthz, /readyz: every informer listed, /metrics: the directory's and the gateway's), JSON logs. SIGTERM or SIGINT drains: /readyz turns 503 so the
// Service stops sending, listeners stop accepting, requests in flight finish (within the drain timeout), then it exits.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createLogger, type Logger } from '../common/logger.js';
import { ConnectionLedger } from '../common/connection-ledger.js';
import { HealthServer } from '../operator/kube/health.js';
import { DEFAULT_INFORMER_OPTIONS } from '../operator/kube/informer.js';
import { loadKubeConfig } from '../operator/kube/kubeconfig.js';
import { ClusterDirectory } from './cluster-directory.js';
import { gatekeeperFor } from './gatekeeper.js';
import type { GrpcGateway } from './grpc-proxy.js';
import { KeyStore } from './keys.js';
import { createGateway } from './server.js';

/** Everything `modelplane gateway` runs with, decided from its flags (cli/gateway.ts). */
export interface ClusterGatewaySettings {
  kubeconfig?: string;
  /** Watch these namespaces; empty: all. */
  namespaces: string[];
  host: string;
  port: number;
  /** 0: no gRPC listener. */
  grpcPort: number;
  healthPort: number;
  activationTimeoutMs: number;
  maxHeldRequests: number;
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  /** A file, or a directory of files (a mounted Secret), of API keys; undefined: no keys checked. */
  apiKeys?: string;
  requestTimeoutMs: number;
  watchTimeoutSeconds: number;
  drainTimeoutMs: number;
  logLevel: string;
}

/** A running gateway: its bound ports, and a drain for tests and signals. */
export interface RunningGateway {
  port: number;
  healthPort: number;
  directory: ClusterDirectory;
  /** Stops accepting, waits for requests in flight (at most the drain timeout), closes everything. */
  drain(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Starts the gateway: health first (so probes answer while the informers list), then the directory, then data. */
export async function startClusterGateway(s: ClusterGatewaySettings, version: string, log: Logger): Promise<RunningGateway> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'modelplane_gateway_' });
  const directory = new ClusterDirectory({
    kubeConfig: loadKubeConfig(s.kubeconfig),
    namespaces: s.namespaces,
    requestTimeoutMs: s.requestTimeoutMs,
    informer: { ...DEFAULT_INFORMER_OPTIONS, watchTimeoutSeconds: s.watchTimeoutSeconds },
    logger: log,
    registry,
  });
  // Invalid keys stop the start: a gateway that should check keys never runs without them.
  const keys = s.apiKeys ? gatekeeperFor(KeyStore.watch(s.apiKeys, { log })) : undefined;
  const data = createGateway({
    directory,
    maxBodyBytes: s.maxBodyBytes,
    upstreamTimeoutMs: s.upstreamTimeoutMs,
    activationTimeoutMs: s.activationTimeoutMs,
    maxHeldRequests: s.maxHeldRequests,
    ...(keys ? { keys } : {}),
    version,
    onActivation: (target, event) => log.info('activation', { namespace: target.namespace, name: target.name, model: target.model, ...event }),
  });
  let draining = false;
  const metrics = { contentType: registry.contentType, metrics: async () => `${await registry.metrics()}${data.metricsText()}` };
  const health = new HealthServer({ live: () => true, ready: () => directory.synced && !draining }, metrics as unknown as Registry);
  const healthPort = await health.listen(s.healthPort, s.host);
  log.info('health and metrics listening', { port: healthPort });
  await directory.start();
  log.info('directory synced', { namespaces: s.namespaces.length ? s.namespaces : '(all)', targets: directory.list().length });
  const server = createServer((req, res) => data.handle(req, res));
  server.keepAliveTimeout = 65_000;
  const connections = new ConnectionLedger(server);
  const port = await listen(server, s.port, s.host);
  log.info('gateway listening', { port });
  let grpc: GrpcGateway | undefined;
  if (s.grpcPort > 0) {
    grpc = data.grpc({ upstreamTimeoutMs: s.upstreamTimeoutMs, logger: log });
    log.info('gRPC listening', { port: await grpc.listen(s.grpcPort, s.host) });
  }
  const drain = async () => {
    draining = true;
    // Idle connections close at once, the others as their last answer is written out.
    const closing = connections.closeListener();
    // No new gRPC connection; calls in flight on open ones are counted with the HTTP requests and finish first.
    grpc?.server.close();
    const deadline = Date.now() + s.drainTimeoutMs;
    while (data.inflight.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    data.close();
    await grpc?.close();
    // Past the drain deadline, what is still open is cut.
    await closing.within(deadline);
    await directory.stop();
    await health.close();
  };
  return { port, healthPort, directory, drain };
}

/** The process: start, then run until SIGTERM or SIGINT, drain, exit 0. */
export async function runClusterGateway(s: ClusterGatewaySettings, version: string): Promise<void> {
  const log = createLogger('gateway', s.logLevel);
  let gw: RunningGateway;
  try {
    gw = await startClusterGateway(s, version, log);
  } catch (err) {
    log.error('gateway failed to start', { error: (err as Error).message });
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('draining', { signal, drainTimeoutMs: s.drainTimeoutMs });
    gw.drain().then(() => process.exit(0), (err: unknown) => {
      log.error('drain failed', { error: (err as Error).message });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
