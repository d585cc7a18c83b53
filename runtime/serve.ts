// `modelplane serve`: load one model, warm it up, serve it, drain on SIGTERM.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { MODEL_FILE_PLACES, archiveOfUri, modelFileIn } from '../common/download-names.js';
import { createLogger, type Logger } from '../common/logger.js';
import { writeTerminationMessage } from '../common/termination.js';
import { cpuLimit, type ServeConfig } from './config.js';
import { InflightTracker, RuntimeMetrics } from './metrics.js';
import { InflightBytes } from './admission.js';
import { ModelRunner, type LoadedModel } from './model-runner.js';
import { ModelLoadError } from './worker-handle.js';
import { Scheduler, type SchedulerObserver } from './scheduler.js';
import type { InlineLane, InlineLaneDecision } from './inline-lane.js';
import { createRuntimeServer, type RuntimeServer, type RuntimeServerDeps } from './http/server.js';
import { MODEL_VERSION, type ServedModel, type ServerState } from './core.js';
import { ModelStatisticsRecorder } from './statistics.js';
import { batchability, type ModelSignature } from './signature.js';
import { readSampleRequests, type SampleRequest } from './samples.js';
import { laneWarmupInputs, warmUp, type WarmupReport } from './warmup.js';
import { checksumMismatch, readManifest, sha256File } from '../fetch/integrity.js';
import type { WireTensor, WorkerInit } from './worker-protocol.js';
import { isGpuProvider } from '../common/serve-contract.js';
import { startGrpcServer, type GrpcRuntimeServer } from './grpc/server.js';
import { chooseServedModel } from '../common/optimization-report.js';
import { startGenerativeModel } from './generate/serve-generative.js';
import { ConnectionLedger } from '../common/connection-ledger.js';

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
  /**
   * Readiness 503 at once; keep serving for --drain-seconds while the endpoints stop sending; close the
   * listener; finish what was accepted (within --drain-timeout-seconds). `windowSeconds` overrides
   * --drain-seconds (0 for an interactive stop, where no load balancer is sending).
   */
  drain(windowSeconds?: number): Promise<void>;
}

/**
 * The model name: --name, else the file name without `.onnx`; the model directory's name for a directory, or for
 * its model.onnx (at its top, or under onnx/ as transformers.js keeps it).
 */
export function defaultModelName(modelPath: string): string {
  const trimmed = modelPath.replace(/\/+$/, '');
  // The deepest place first: .../repo/onnx/model.onnx also ends with /model.onnx.
  const place = [...MODEL_FILE_PLACES].sort((a, b) => b.length - a.length).find((p) => trimmed.endsWith(`/${p}`) || trimmed === p);
  const base = basename(place ? trimmed.slice(0, -place.length).replace(/\/+$/, '') : trimmed);
  const name = place ? base : base.replace(/\.onnx$/, '');
  return name.replace(/[^A-Za-z0-9_.-]/g, '-') || 'model';
}

/** Resolves --model to a local ONNX file, fetching a remote URI into the cache first. */
async function resolveModelFile(cfg: ServeConfig, logger: Logger): Promise<string> {
  let path = cfg.model;
  const uri = /^[a-z][a-z0-9+.-]*:\/\//i.test(path);
  if (uri) {
    const { fetchModel, isRemoteUri } = await import('../fetch/index.js');
    // Each remote URI, and each archive (which unpacks into the cache wherever it is), gets its own cache directory,
    // so a verified copy is reused across restarts.
    const dest = isRemoteUri(path) || archiveOfUri(path) ? join(cfg.cacheDir, createHash('sha256').update(path).digest('hex').slice(0, 32)) : cfg.cacheDir;
    try {
      path = (await fetchModel({ uri: path, dest, sha256: cfg.sha256, credentialsDir: cfg.credentialsDir, logger })).modelPath;
    } catch (err) {
      throw new FatalError('ModelFetchFailed', (err as Error).message);
    }
  }
  const file = await localModelFile(path);
  // A URI's download was verified as it arrived; a path given as it is gets the same check before it is loaded.
  if (cfg.sha256 && !uri) await verifyLocalModel(file, cfg.sha256);
  return file;
}

/** The ONNX file a local --model path names: the file, a directory's model file (MODEL_FILE_PLACES), or what fetch recorded there. */
async function localModelFile(path: string): Promise<string> {
  if (!existsSync(path)) {
    const fetched = await fetchedModel(dirname(path));
    if (fetched) return fetched;
    throw new FatalError('ModelLoadFailed', `model not found: ${path} does not exist`);
  }
  if (statSync(path).isDirectory()) {
    const file = modelFileIn(path);
    if (file) return file;
    const fetched = await fetchedModel(path);
    if (fetched) return fetched;
    throw new FatalError('ModelLoadFailed', `model not found: directory ${path} has no ${MODEL_FILE_PLACES.join(' nor ')}`);
  }
  return path;
}

/** --sha256 for a model on disk: the digest of the file loaded (the model file of a directory), as fetch checks it. */
async function verifyLocalModel(file: string, expected: string): Promise<void> {
  const actual = await sha256File(file);
  if (actual !== expected.toLowerCase()) {
    throw new FatalError('ModelFetchFailed', `${checksumMismatch(file, expected.toLowerCase(), actual).message}; the model is not served`);
  }
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
    if (!statSync(target).isDirectory()) return existsSync(target) ? target : undefined;
    return modelFileIn(target);
  } catch {
    return undefined;
  }
}

/**
 * What each instance's session worker is told, apart from the model path: with --require-gpu only the GPU
 * providers are tried; instance i runs on devices[i mod length]; threads default to a share of the CPU limit.
 */
export function instancePlan(cfg: ServeConfig, cpus: number = cpuLimit()): Omit<WorkerInit, 'modelPath'>[] {
  const executionProviders = cfg.requireGpu ? cfg.executionProviders.filter(isGpuProvider) : cfg.executionProviders;
  const intraOpThreads = cfg.intraOpThreads > 0 ? cfg.intraOpThreads : Math.max(1, Math.floor(cpus / cfg.instances));
  return Array.from({ length: cfg.instances }, (_, i) => ({
    executionProviders: [...executionProviders],
    deviceId: cfg.devices[i % cfg.devices.length],
    graphOptimizationLevel: cfg.graphOptimizationLevel,
    intraOpThreads,
    requireGpu: cfg.requireGpu,
  }));
}

/** Why the model did not load, in the words the operator's status shows. */
function loadFailure(cfg: ServeConfig, file: string, err: Error): FatalError {
  if (cfg.requireGpu && err instanceof ModelLoadError && err.failures.length > 0) {
    const gpuFailures = err.failures.filter((f) => isGpuProvider(f.provider));
    // Registering the provider (its libraries, a device) fails before the model is read; a model onnxruntime
    // cannot parse fails alike on every provider, which is not the GPU's fault and is reported as it is.
    if (gpuFailures.length === err.failures.length && gpuFailures.every((f) => /AppendExecutionProvider|CUDA|cuDNN|shared librar/i.test(f.error))) {
      return new FatalError('ModelLoadFailed', `GPU requested but the CUDA execution provider is unavailable: ${gpuFailures.map((f) => `${f.provider}: ${f.error}`).join('; ')}`);
    }
  }
  return new FatalError('ModelLoadFailed', `model ${file} did not load: ${err.message}`);
}

/** Loads the model into every instance; logs each provider skipped, and nodes onnxruntime put on CPU under --require-gpu. */
async function loadInstances(cfg: ServeConfig, file: string, runners: ModelRunner[], plan: Omit<WorkerInit, 'modelPath'>[], logger: Logger): Promise<{ providers: string[]; sig: ModelSignature; nodesOnCpu?: boolean }> {
  let loadedAll: LoadedModel[];
  try {
    loadedAll = await Promise.all(plan.map((p, i) => runners[i].load({ modelPath: file, ...p })));
  } catch (err) {
    throw loadFailure(cfg, file, err as Error);
  }
  for (const f of loadedAll[0].failures) {
    logger.warn('execution provider unavailable, falling back', { provider: f.provider, reason: f.error });
  }
  const providers = [...new Set(loadedAll.map((l) => l.provider))];
  const told = loadedAll.filter((l) => l.nodesOnCpu !== undefined);
  const nodesOnCpu = told.length ? told.some((l) => l.nodesOnCpu) : undefined;
  if (nodesOnCpu) {
    logger.warn('onnxruntime placed some nodes on CPU', {
      provider: providers.join(','),
      detail: 'with no CPU fallback allowed the session was refused: onnxruntime keeps shape computations (Shape, Gather, Concat feeding a Reshape) on CPU by design, and runs there any op its GPU provider has no kernel for',
    });
  }
  return { providers, sig: loadedAll[0].signature, nodesOnCpu };
}

/** Dynamic batching asked for on a model whose first dimension is fixed is refused, never served another way. */
function checkBatching(maxBatchSize: number, sig: ModelSignature): void {
  const b = batchability(sig);
  if (maxBatchSize > 1 && !b.ok) {
    throw new FatalError(
      'BatchingUnsupported',
      `--max-batch-size ${maxBatchSize} asks for dynamic batching, but ${b.reason}: requests cannot be concatenated along dimension 0. ` +
        'Serve it without batching (--max-batch-size 1; omit spec.runtime.batching), or export the model with a symbolic first dimension',
    );
  }
}

/**
 * The warm-up (warmup.ts): the --warmup samples, a failure of which stops the start with onnxruntime's message; else
 * generated inputs, a failure of which is a warning (the model is served). Returns what the event-loop lane may time
 * itself on.
 */
async function runWarmup(cfg: ServeConfig, file: string, runners: ModelRunner[], sig: ModelSignature, failed: () => void, logger: Logger): Promise<{ report: WarmupReport; laneInputs?: () => WireTensor[] }> {
  let samples: SampleRequest[] | undefined;
  if (cfg.warmup) {
    try {
      samples = readSampleRequests(cfg.warmup, sig);
    } catch (err) {
      throw new FatalError('ModelLoadFailed', `--warmup: ${(err as Error).message}`);
    }
  }
  let report: WarmupReport;
  try {
    report = await warmUp(runners, sig, samples, failed);
  } catch (err) {
    throw new FatalError('ModelLoadFailed', `model ${file} failed its warm-up: ${(err as Error).message}`);
  }
  if (report.status === 'failed') {
    logger.warn('warm-up on generated inputs failed; the model is served', {
      error: report.message,
      detail: 'zeros with every symbolic dimension 1 are a guess the model may refuse; --warmup FILE gives inputs it takes',
    });
  } else logger.info('warmed up', { inputs: report.inputs, ...(report.samples ? { samples: report.samples } : {}) });
  return { report, laneInputs: laneWarmupInputs(report, sig, samples) };
}

/**
 * Short runs of a small CPU model cost less on the event loop than their hand-off to a session worker. Its module
 * (onnxruntime and an ONNX reader on this thread) loads only for a model that may get the lane.
 */
async function chooseInlineLane(cfg: ServeConfig, file: string, providers: string[], warmup: (() => WireTensor[]) | undefined, workerThreads: number, logger: Logger): Promise<InlineLaneDecision> {
  const decision: InlineLaneDecision = cfg.inlineRunMaxUs <= 0 ? { reason: '--inline-run-max-us is 0' }
    : cfg.maxBatchSize > 1 ? { reason: 'batching is on' }
    : !providers.every((p) => p === 'cpu') ? { reason: `the model runs on ${providers.join(',')}` }
    : await import('./inline-lane.js')
      .then(({ InlineLane }) => InlineLane.create({
        modelPath: file, maxUs: cfg.inlineRunMaxUs, graphOptimizationLevel: cfg.graphOptimizationLevel, warmup, workerThreads,
        onPlan: (p) => logger.info('short runs on the event loop', { maxUs: p.maxUs, boundUs: +p.warmupUs.toFixed(1), elements: p.warmupElements, from: p.from }),
      }))
      .catch((err: Error) => ({ reason: `a session on the event loop did not load: ${err.message}` }));
  if (!decision.lane) logger.info('every run on a session worker', { reason: decision.reason });
  else if (decision.plan) logger.info('short runs on the event loop', { maxUs: cfg.inlineRunMaxUs, warmupUs: +decision.plan.warmupUs.toFixed(1), warmupElements: decision.plan.warmupElements });
  else logger.info('short runs on the event loop once a real run shows them short', { maxUs: cfg.inlineRunMaxUs, reason: 'the warm-up failed: no run to predict from yet' });
  return decision;
}

/** Metrics and statistics from the scheduler's runs; a batch re-run request by request is counted and logged. */
function schedulerObserver(model: string, metrics: RuntimeMetrics, statistics: ModelStatisticsRecorder, logger: Logger): SchedulerObserver {
  return {
    queueSeconds: (s, req) => {
      metrics.queueSeconds.observe({ model }, s);
      if (req) statistics.dequeued(req, s);
    },
    batch: (rows, s, place) => {
      metrics.batchSize.observe({ model }, rows);
      metrics.computeSeconds.observe({ model }, s);
      metrics.runs.inc({ model, place });
      statistics.executed(rows, s);
    },
    fallback: (requests, reason, error) => {
      metrics.batchFallbacks.inc({ model, reason });
      logger.warn('batch re-run request by request', { model, requests, reason, error });
    },
  };
}

/** Starts listening at once and loads the model meanwhile; resolves when the listeners are up (`ready` says when the model is). */
export function startRuntime(cfg: ServeConfig, version: string, logger: Logger = createLogger('runtime', cfg.logLevel)): Promise<RunningRuntime> {
  return new Runtime(cfg, version, logger).listen();
}

/** One runtime process's serving: its state, the model once loaded, the listeners, and the drain. */
class Runtime {
  private state: ServerState = 'loading';
  private served: ServedModel | undefined;
  private inline: InlineLane | undefined;
  /** Set when a listener could not start: a load still under way stops there. */
  private startFailed = false;
  private grpc: GrpcRuntimeServer | undefined;
  private draining: Promise<void> | undefined;
  /** The generation engine's close, when the model is a decoder it serves (runtime/generate). */
  private closeGeneration: (() => Promise<void>) | undefined;
  private readonly inflight = new InflightTracker();
  private readonly runners: ModelRunner[];
  private readonly modelName: string;
  private readonly statistics: ModelStatisticsRecorder;
  private readonly serverDeps: RuntimeServerDeps;
  private readonly server: RuntimeServer;
  private readonly connections: ConnectionLedger;
  /** Settles when the model is loaded and warmed up (RunningRuntime.ready). */
  private readonly ready: Promise<void>;

  constructor(private readonly cfg: ServeConfig, version: string, private readonly logger: Logger) {
    this.runners = Array.from({ length: cfg.instances }, () => new ModelRunner());
    this.modelName = cfg.name ?? defaultModelName(cfg.model);
    this.statistics = new ModelStatisticsRecorder(this.modelName, MODEL_VERSION);
    this.serverDeps = {
      version,
      maxBodyBytes: cfg.maxBodyBytes,
      inflightBytes: new InflightBytes(cfg.maxInflightBytes),
      bodyTimeoutSeconds: cfg.bodyTimeoutSeconds,
      headersTimeoutSeconds: cfg.headersTimeoutSeconds,
      requestTimeoutSeconds: cfg.requestTimeoutSeconds,
      logger,
      modelName: this.modelName,
      model: () => this.served,
      statistics: this.statistics,
      state: () => this.state,
      inflight: this.inflight,
    };
    this.server = createRuntimeServer(this.serverDeps);
    this.connections = new ConnectionLedger(this.server);
    this.ready = this.load();
  }

  /** The HTTP listener, then the gRPC one when asked for; a listener that cannot start fails the start. */
  listen(): Promise<RunningRuntime> {
    const { cfg, logger, server } = this;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => void this.failStart(new FatalError('ListenFailed', `cannot listen on ${cfg.host}:${cfg.httpPort}: ${err.message}`)).catch(reject));
      server.listen(cfg.httpPort, cfg.host, async () => {
        const port = (server.address() as AddressInfo).port;
        logger.info('listening', { host: cfg.host, port, model: this.modelName });
        if (cfg.grpcPort !== 0) {
          try {
            this.grpc = await startGrpcServer(this.serverDeps, cfg.host, cfg.grpcPort === 'any' ? 0 : cfg.grpcPort);
          } catch (err) {
            server.close();
            await this.failStart(new FatalError('ListenFailed', `cannot listen on ${cfg.host}:${cfg.grpcPort} (gRPC): ${(err as Error).message}`)).catch(reject);
            return;
          }
          logger.info('listening', { host: cfg.host, port: this.grpc.port, protocol: 'grpc', model: this.modelName });
        }
        resolve({ server, port, grpcPort: this.grpc?.port, ready: this.ready, drain: (windowSeconds?: number) => this.drain(windowSeconds) });
      });
    });
  }

  /** RunningRuntime.drain: the first call drains, later ones get the same promise. */
  drain(windowSeconds = this.cfg.drainSeconds): Promise<void> {
    return (this.draining ??= this.drainOnce(windowSeconds));
  }

  /** The model resolved, loaded into every instance, checked, warmed up and scheduled; then the server is ready. */
  private async load(): Promise<void> {
    const { cfg, logger, modelName, runners } = this;
    const started = performance.now();
    const original = await resolveModelFile(cfg, logger);
    // The optimised model when `modelplane optimize` wrote one that passed its gate, else the original.
    const { file, parameters: optimization } = chooseServedModel(original, cfg.optimizedModelDir);
    if (optimization) logger.info(optimization.optimized ? 'serving the optimised model' : 'serving the original model', { file, ...optimization });
    const plan = instancePlan(cfg);
    // A decoder with its tokenizer beside it is served by the generation engine (runtime/generate).
    const generative = await startGenerativeModel({ cfg, file, modelDir: dirname(original), name: modelName, session: plan[0], inflight: this.inflight, statistics: this.statistics, codecHeldBytes: () => this.server.codecHeldBytes(), logger });
    if (generative) {
      this.closeGeneration = generative.close;
      if (this.startFailed) throw new FatalError('ListenFailed', 'the server did not start');
      // The model metadata says which file is served, as it does for any model.
      this.served = { ...generative.served, parameters: { ...generative.served.parameters, ...(optimization ?? {}) } };
      if (this.state === 'loading') this.state = 'ready';
      this.grpc?.stateChanged();
      return;
    }
    const { providers, sig, nodesOnCpu } = await loadInstances(cfg, file, runners, plan, logger);
    if (this.startFailed) throw new FatalError('ListenFailed', 'the server did not start');
    const maxBatchSize = cfg.maxBatchSize;
    checkBatching(maxBatchSize, sig);
    const metrics = this.modelMetrics();
    const { report: warmup, laneInputs } = await runWarmup(cfg, file, runners, sig, () => metrics.warmupFailures.inc({ model: modelName }), logger);
    const inlineDecision = await chooseInlineLane(cfg, file, providers, laneInputs, plan[0].intraOpThreads, logger);
    const inline = (this.inline = inlineDecision.lane);
    for (const provider of providers) metrics.executionProvider.set({ model: modelName, provider }, 1);
    const scheduler = new Scheduler(runners, sig, { maxBatchSize, maxQueueDelayUs: cfg.maxQueueDelayUs, maxQueueSize: cfg.maxQueueSize }, schedulerObserver(modelName, metrics, this.statistics, logger), inline);
    const loadSeconds = (performance.now() - started) / 1000;
    metrics.loadSeconds.set({ model: modelName }, loadSeconds);
    const parameters = {
      execution_provider: providers.join(','), instances: runners.length, inline_run_max_us: inline ? cfg.inlineRunMaxUs : 0,
      ...(nodesOnCpu !== undefined ? { nodes_on_cpu: nodesOnCpu } : {}),
      ...(optimization ?? {}),
    };
    this.served = { name: modelName, signature: sig, scheduler, metrics, maxBatchSize, parameters, warmup };
    this.exitWhenAWorkerDies();
    if (this.state === 'loading') this.state = 'ready';
    this.grpc?.stateChanged();
    logger.info('model ready', {
      model: modelName, file, provider: providers.join(','), instances: runners.length, intraOpThreads: plan[0].intraOpThreads,
      loadSeconds: +loadSeconds.toFixed(3), maxBatchSize,
      inputs: sig.inputs.map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`),
      outputs: sig.outputs.map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`),
    });
  }

  /** The model's metrics; the gauges (in flight, queued, concurrency, codec bytes) are read when scraped. */
  private modelMetrics(): RuntimeMetrics {
    const { inflight } = this;
    return new RuntimeMetrics(
      this.modelName,
      { inflight: () => inflight.count, queued: () => this.served?.scheduler.queued ?? 0, concurrencySeconds: () => inflight.concurrencySeconds(), codecHeldBytes: () => this.server.codecHeldBytes() },
      this.cfg.grpcPort !== 0 ? ['http', 'grpc'] : ['http'],
    );
  }

  /** A session worker that dies takes the process with it: the model can no longer be served. */
  private exitWhenAWorkerDies(): void {
    for (const runner of this.runners) {
      runner.onFatal = (err) => {
        this.logger.error('session worker died', { error: err.message });
        writeTerminationMessage(`ModelLoadFailed: session worker died: ${err.message}`);
        process.exit(70);
      };
    }
  }

  private setState(state: ServerState): void {
    this.state = state;
    this.grpc?.stateChanged();
  }

  private async drainOnce(windowSeconds: number): Promise<void> {
    const { cfg, logger, server, inflight } = this;
    this.setState('draining');
    // Endpoints and kube-proxy take a while to stop sending: keep serving new requests (and connections) meanwhile.
    logger.info('draining', { inflight: inflight.count, queued: this.served?.scheduler.queued ?? 0, drainSeconds: windowSeconds });
    if (windowSeconds > 0) await new Promise((r) => setTimeout(r, windowSeconds * 1000));
    this.setState('closed');
    // Idle connections close at once, the others once their answers are written out (none is cut mid-answer).
    const closing = this.connections.closeListener();
    const { idleClosed, awaitingFirstRequest } = closing;
    logger.info('listener closed', { inflight: inflight.count, idleClosed, awaitingFirstRequest });
    const deadline = Date.now() + cfg.drainTimeoutSeconds * 1000;
    await this.finishAccepted(deadline);
    await this.grpc?.close(1000);
    // Past the deadline with requests unanswered: cut now. Otherwise each connection closes after its last answer,
    // and what is still open a second on (or at the deadline, if later) is cut.
    if (inflight.count > 0) server.closeAllConnections();
    await closing.within(Math.max(Date.now() + 1000, deadline));
    server.closeCodec();
    await Promise.all([...this.runners.map((r) => r.close()), this.inline?.release(), this.closeGeneration?.()]);
    logger.info('drained');
  }

  /** Waits, until the deadline, for a load under way to settle and for every accepted request to be answered. */
  private async finishAccepted(deadline: number): Promise<void> {
    const { inflight } = this;
    await this.loadSettled();
    while (inflight.count > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (inflight.count > 0) this.logger.warn('drain timed out', { inflight: inflight.count });
  }

  /** The load settled (either way), or --drain-timeout-seconds passed. */
  private async loadSettled(): Promise<void> {
    await Promise.race([this.ready.catch(() => {}), new Promise((r) => setTimeout(r, this.cfg.drainTimeoutSeconds * 1000).unref())]);
  }

  // A start that fails (a port taken) lets the session workers finish loading, then stops them, before the caller
  // exits: exiting, or stopping a thread, while it is inside onnxruntime loading a model can abort the process.
  private async failStart(err: FatalError): Promise<never> {
    this.startFailed = true;
    await this.loadSettled();
    await Promise.all([...this.runners.map((r) => r.close()), this.closeGeneration?.()]);
    throw err;
  }
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
