// `modelplane serve`: load one model, warm it up, serve it, drain on SIGTERM.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createLogger, type Logger } from '../common/logger.js';
import { writeTerminationMessage } from '../common/termination.js';
import { cpuLimit, type ServeConfig } from './config.js';
import { RuntimeMetrics } from './metrics.js';
import { ModelLoadError, ModelRunner } from './model-runner.js';
import { Scheduler } from './scheduler.js';
import { createRuntimeServer, MODEL_VERSION, type ServedModel, type ServerState } from './server.js';
import { ModelStatisticsRecorder } from './statistics.js';
import { batchability, warmupShape, type ModelSignature } from './signature.js';
import { typeInfo } from './datatypes.js';
import { elementCount } from './tensors.js';
import { readManifest } from './fetch/integrity.js';
import type { WireTensor } from './worker-protocol.js';

export class FatalError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

export interface RunningRuntime {
  server: Server;
  port: number;
  /** Settles when the model is loaded and warmed up (rejects with a FatalError when it cannot be). */
  ready: Promise<void>;
  /**
   * Readiness 503 at once; keep serving for --drain-seconds while the endpoints stop sending; close the
   * listener; finish what was accepted (within --drain-timeout-seconds). `windowSeconds` overrides
   * --drain-seconds (0 for an interactive stop, where no load balancer is sending).
   */
  drain(windowSeconds?: number): Promise<void>;
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
  const inflight = { count: 0 };
  const runner = new ModelRunner();
  const modelName = cfg.name ?? defaultModelName(cfg.model);
  const statistics = new ModelStatisticsRecorder(modelName, MODEL_VERSION);
  const server = createRuntimeServer({
    version,
    maxBodyBytes: cfg.maxBodyBytes,
    maxInflightBytes: cfg.maxInflightBytes,
    bodyTimeoutSeconds: cfg.bodyTimeoutSeconds,
    headersTimeoutSeconds: cfg.headersTimeoutSeconds,
    requestTimeoutSeconds: cfg.requestTimeoutSeconds,
    logger,
    modelName,
    model: () => served,
    statistics,
    state: () => state,
    inflight,
  });

  const ready = (async () => {
    const started = performance.now();
    const file = await resolveModelFile(cfg, logger);
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
    const metrics = new RuntimeMetrics(modelName, { inflight: () => inflight.count, queued: () => served?.scheduler.queued ?? 0 });
    const scheduler = new Scheduler(runner, sig, { maxBatchSize, maxQueueDelayUs: cfg.maxQueueDelayUs, maxQueueSize: cfg.maxQueueSize }, {
      queueSeconds: (s, req) => {
        metrics.queueSeconds.observe({ model: modelName }, s);
        if (req) statistics.dequeued(req, s);
      },
      batch: (rows, s) => {
        metrics.batchSize.observe({ model: modelName }, rows);
        metrics.computeSeconds.observe({ model: modelName }, s);
        statistics.executed(rows, s);
      },
    });
    const loadSeconds = (performance.now() - started) / 1000;
    metrics.loadSeconds.set({ model: modelName }, loadSeconds);
    served = { name: modelName, signature: sig, scheduler, metrics, maxBatchSize };
    runner.onFatal = (err) => {
      logger.error('session worker died', { error: err.message });
      writeTerminationMessage(`ModelLoadFailed: session worker died: ${err.message}`);
      process.exit(70);
    };
    if (state === 'loading') state = 'ready';
    logger.info('model ready', {
      model: modelName, file, provider: loaded.provider, loadSeconds: +loadSeconds.toFixed(3), maxBatchSize,
      inputs: sig.inputs.map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`),
      outputs: sig.outputs.map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`),
    });
  })();

  let draining: Promise<void> | undefined;
  const drain = (windowSeconds = cfg.drainSeconds) => (draining ??= (async () => {
    state = 'draining';
    // Endpoints and kube-proxy take a while to stop sending: keep serving new requests (and connections) meanwhile.
    logger.info('draining', { inflight: inflight.count, queued: served?.scheduler.queued ?? 0, drainSeconds: windowSeconds });
    if (windowSeconds > 0) await new Promise((r) => setTimeout(r, windowSeconds * 1000));
    state = 'closed';
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    logger.info('listener closed', { inflight: inflight.count });
    const deadline = Date.now() + cfg.drainTimeoutSeconds * 1000;
    await Promise.race([ready.catch(() => {}), new Promise((r) => setTimeout(r, cfg.drainTimeoutSeconds * 1000).unref())]);
    while (inflight.count > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (inflight.count > 0) logger.warn('drain timed out', { inflight: inflight.count });
    // Connections close after their last answer is flushed (it says Connection: close); past the deadline, now.
    if (inflight.count > 0) server.closeAllConnections();
    // A connection left idle without Connection: close would hold the close until its keep-alive timeout.
    const lingering = setTimeout(() => server.closeAllConnections(), Math.max(1000, deadline - Date.now()));
    await closed;
    clearTimeout(lingering);
    server.closeCodec();
    await runner.close();
    logger.info('drained');
  })());

  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new FatalError('ListenFailed', `cannot listen on ${cfg.host}:${cfg.httpPort}: ${err.message}`)));
    server.listen(cfg.httpPort, cfg.host, () => {
      const port = (server.address() as AddressInfo).port;
      logger.info('listening', { host: cfg.host, port, model: modelName });
      resolve({ server, port, ready, drain });
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
    // Ctrl-C at a terminal has no endpoints to wait for: skip the drain window.
    rt.drain(signal === 'SIGINT' ? 0 : undefined).then(() => process.exit(0), (err: Error) => {
      logger.error('drain failed', { error: err.message });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
