// `modelplane serve`: load one model, warm it up, serve it, drain on SIGTERM.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createLogger, type Logger } from '../common/logger.js';
import { writeTerminationMessage } from '../common/termination.js';
import { cpuLimit, type ServeConfig } from './config.js';
import { InflightTracker, RuntimeMetrics } from './metrics.js';
import { ModelLoadError, ModelRunner } from './model-runner.js';
import { Scheduler } from './scheduler.js';
import { createRuntimeServer, MODEL_VERSION, type ServedModel, type ServerState } from './server.js';
import { batchability, warmupShape, type ModelSignature } from './signature.js';
import { typeInfo } from './datatypes.js';
import { elementCount } from './tensors.js';
import { readManifest } from './fetch/integrity.js';
import type { WireTensor } from './worker-protocol.js';
import { startGrpcServer, type GrpcRuntimeServer } from './grpc/server.js';
import { statisticsFromMetrics } from './grpc/statistics.js';
import { chooseServedModel } from '../optimize/report.js';

export class FatalError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

export interface RunningRuntime {
  server: Server;
  port: number;
  /** The gRPC port, when --grpc-port asked for one. */
  grpcPort?: number;
  /** Settles when the model is loaded and warmed up (rejects with a FatalError when it cannot be). */
  ready: Promise<void>;
  /** Stop taking new work, finish what was accepted, close. */
  drain(): Promise<void>;
}

/** The model name: --name, else the file name without `.onnx` (the directory name for model directories). */
export function defaultModelName(modelPath: string): string {
  const base = basename(modelPath.replace(/\/+$/, ''));
  const name = base === 'model.onnx' ? basename(modelPath.replace(/\/model\.onnx$/, '')) : base.replace(/\.onnx$/, '');
  return name.replace(/[^A-Za-z0-9_.-]/g, '-') || 'model';
}

/** Resolves --model to a local ONNX file, fetching a remote URI into the cache first. */
async function resolveModelFile(cfg: ServeConfig, logger: Logger): Promise<string> {
  let path = cfg.model;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    const { fetchModel, isRemoteUri } = await import('./fetch/index.js');
    // Each remote URI gets its own cache directory, so a verified copy is reused across restarts.
    const dest = isRemoteUri(path) ? join(cfg.cacheDir, createHash('sha256').update(path).digest('hex').slice(0, 32)) : cfg.cacheDir;
    try {
      path = (await fetchModel({ uri: path, dest, sha256: cfg.sha256, credentialsDir: cfg.credentialsDir, logger })).modelPath;
    } catch (err) {
      throw new FatalError('ModelFetchFailed', (err as Error).message);
    }
  }
  if (!existsSync(path)) {
    const fetched = await fetchedModel(dirname(path));
    if (fetched) return fetched;
    throw new FatalError('ModelLoadFailed', `model not found: ${path} does not exist`);
  }
  if (statSync(path).isDirectory()) {
    const file = join(path, 'model.onnx');
    if (existsSync(file)) return file;
    const fetched = await fetchedModel(path);
    if (fetched) return fetched;
    throw new FatalError('ModelLoadFailed', `model not found: directory ${path} has no model.onnx`);
  }
  return path;
}

/**
 * What `modelplane fetch` recorded as the model in a destination directory, when it can be loaded: the operator
 * points the runtime at the fetch destination, and only fetch knows whether an object was a file or a folder.
 */
async function fetchedModel(dir: string): Promise<string | undefined> {
  const manifest = await readManifest(dir);
  if (!manifest) return undefined;
  try {
    const target = resolve(dir, manifest.modelPath);
    if (target !== dir && !target.startsWith(`${dir}/`)) return undefined;
    const file = statSync(target).isDirectory() ? join(target, 'model.onnx') : target;
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

function zeroInputs(sig: ModelSignature): WireTensor[] {
  return sig.inputs.map((t) => {
    const dims = warmupShape(t);
    const n = elementCount(dims);
    if (t.datatype === 'BYTES') return { name: t.name, ortType: t.ortType, dims, strings: new Array(n).fill('') };
    return { name: t.name, ortType: t.ortType, dims, buffer: new ArrayBuffer(n * typeInfo(t.datatype).size) };
  });
}

export function startRuntime(cfg: ServeConfig, version: string, logger: Logger = createLogger('runtime', cfg.logLevel)): Promise<RunningRuntime> {
  let state: ServerState = 'loading';
  let served: ServedModel | undefined;
  const inflight = new InflightTracker();
  const runner = new ModelRunner();
  const modelName = cfg.name ?? defaultModelName(cfg.model);
  const serverDeps = {
    version,
    maxBodyBytes: cfg.maxBodyBytes,
    logger,
    modelName,
    model: () => served,
    state: () => state,
    inflight,
  };
  const server = createRuntimeServer(serverDeps);
  let grpc: GrpcRuntimeServer | undefined;

  const ready = (async () => {
    const started = performance.now();
    const original = await resolveModelFile(cfg, logger);
    // The optimised model when `modelplane optimize` wrote one that passed its gate, else the original.
    const { file, parameters } = chooseServedModel(original, cfg.optimizedModelDir);
    if (parameters) logger.info(parameters.optimized ? 'serving the optimised model' : 'serving the original model', { file, ...parameters });
    if (cfg.gpuMemLimitBytes > 0) {
      logger.warn('gpu memory limit is not applied: onnxruntime-node passes only deviceId to the CUDA provider', { gpuMemLimitBytes: cfg.gpuMemLimitBytes });
    }
    const intraOpThreads = cfg.intraOpThreads > 0 ? cfg.intraOpThreads : cpuLimit();
    let loaded;
    try {
      loaded = await runner.load({ modelPath: file, executionProviders: cfg.executionProviders, graphOptimizationLevel: cfg.graphOptimizationLevel, intraOpThreads });
    } catch (err) {
      throw new FatalError('ModelLoadFailed', `model ${file} did not load: ${(err as Error).message}`);
    }
    for (const f of loaded.failures) {
      logger.warn('execution provider unavailable, falling back', { provider: f.provider, reason: f.error });
    }
    const sig = loaded.signature;
    let maxBatchSize = cfg.maxBatchSize;
    const b = batchability(sig);
    if (maxBatchSize > 1 && !b.ok) {
      logger.info('dynamic batching off', { reason: b.reason });
      maxBatchSize = 1;
    }
    try {
      await runner.run(zeroInputs(sig));
    } catch (err) {
      throw new FatalError('ModelLoadFailed', `model ${file} failed its warm-up run: ${(err as Error).message}`);
    }
    const metrics = new RuntimeMetrics(
      modelName,
      { inflight: () => inflight.count, queued: () => served?.scheduler.queued ?? 0, concurrencySeconds: () => inflight.concurrencySeconds() },
      cfg.grpcPort > 0 ? ['http', 'grpc'] : ['http'],
    );
    const scheduler = new Scheduler(runner, sig, { maxBatchSize, maxQueueDelayUs: cfg.maxQueueDelayUs, maxQueueSize: cfg.maxQueueSize }, {
      queueSeconds: (s) => metrics.queueSeconds.observe({ model: modelName }, s),
      batch: (rows, s) => {
        metrics.batchSize.observe({ model: modelName }, rows);
        metrics.computeSeconds.observe({ model: modelName }, s);
      },
    });
    const loadSeconds = (performance.now() - started) / 1000;
    metrics.loadSeconds.set({ model: modelName }, loadSeconds);
    served = { name: modelName, signature: sig, scheduler, metrics, maxBatchSize, ...(parameters ? { parameters } : {}) };
    runner.onFatal = (err) => {
      logger.error('session worker died', { error: err.message });
      writeTerminationMessage(`ModelLoadFailed: session worker died: ${err.message}`);
      process.exit(70);
    };
    if (state === 'loading') state = 'ready';
    grpc?.stateChanged();
    logger.info('model ready', {
      model: modelName, file, provider: loaded.provider, loadSeconds: +loadSeconds.toFixed(3), maxBatchSize,
      inputs: sig.inputs.map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`),
      outputs: sig.outputs.map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`),
    });
  })();

  const drain = async () => {
    if (state === 'draining') return;
    state = 'draining';
    grpc?.stateChanged();
    logger.info('draining', { inflight: inflight.count, queued: served?.scheduler.queued ?? 0 });
    const deadline = Date.now() + cfg.drainTimeoutSeconds * 1000;
    await ready.catch(() => {});
    while (inflight.count > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (inflight.count > 0) logger.warn('drain timed out', { inflight: inflight.count });
    await grpc?.close(1000);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await runner.close();
    logger.info('drained');
  };

  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new FatalError('ListenFailed', `cannot listen on ${cfg.host}:${cfg.httpPort}: ${err.message}`)));
    server.listen(cfg.httpPort, cfg.host, async () => {
      const port = (server.address() as AddressInfo).port;
      logger.info('listening', { host: cfg.host, port, model: modelName });
      if (cfg.grpcPort > 0) {
        const statistics = async () => (served ? statisticsFromMetrics(modelName, MODEL_VERSION, served.metrics) : { model_stats: [] });
        try {
          grpc = await startGrpcServer({ ...serverDeps, statistics }, cfg.host, cfg.grpcPort);
        } catch (err) {
          server.close();
          reject(new FatalError('ListenFailed', `cannot listen on ${cfg.host}:${cfg.grpcPort} (gRPC): ${(err as Error).message}`));
          return;
        }
        logger.info('listening', { host: cfg.host, port: grpc.port, protocol: 'grpc', model: modelName });
      }
      resolve({ server, port, grpcPort: grpc?.port, ready, drain });
    });
  });
}

/** The CLI's entry: exits non-zero with the reason in the log and the termination message on fatal errors. */
export async function serveMain(cfg: ServeConfig, version: string): Promise<void> {
  const logger = createLogger('runtime', cfg.logLevel);
  const die = (reason: string, message: string) => {
    logger.error(message, { reason });
    writeTerminationMessage(`${reason}: ${message}`);
    process.exit(1);
  };
  let rt: RunningRuntime;
  try {
    rt = await startRuntime(cfg, version, logger);
  } catch (err) {
    return die(err instanceof FatalError ? err.reason : 'ModelLoadFailed', (err as Error).message);
  }
  rt.ready.catch((err: Error) => die(err instanceof FatalError ? err.reason : (err as { reason?: string }).reason ?? 'ModelLoadFailed', err.message));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('signal received', { signal });
    rt.drain().then(() => process.exit(0), (err: Error) => {
      logger.error('drain failed', { error: err.message });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
