// The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`, Triton's and KServe's service) and
// grpc.health.v1. Requests are decoded here and join the HTTP path at the scheduler: same batching, queue limit,
// drain and metrics (labelled protocol="grpc").
import { format } from 'node:util';
import {
  Server, ServerCredentials, setLogger, type ServiceDefinition,
  type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Http2SecureServer, Http2Server, ServerHttp2Session } from 'node:http2';
import { asRuntimeError, RuntimeError } from '../errors.js';
import { EXTENSIONS, MODEL_VERSION, SERVER_NAME, checkModelName, repositoryIndex, lookupModel, modelConfig, modelMetadata, outcomeOf, type ServedModel, type TransportDeps } from '../core.js';
import { Reservation } from '../admission.js';
import { decodeInferRequest, encodeInferResponse, messageBytes, ownershipTracking, type ModelInferRequest, type ModelInferResponse } from './codec.js';
import { createHealthService } from './health.js';
import { healthService, inferenceService } from './proto.js';
import { statisticsResponse } from '../statistics.js';
import { grpcStatistics } from './statistics.js';
import { grpcMessage, toServiceError } from './status.js';

/** What the gRPC transport needs: exactly what the HTTP one does (statistics included). */
export type GrpcServerDeps = TransportDeps;

export interface GrpcRuntimeServer {
  server: Server;
  port: number;
  /** Call after every change of deps.state(): health watchers hear of it; on draining, streams stop taking requests. */
  stateChanged(): void;
  /** Ends open streams once their answers are sent, then shuts the server down (forcibly after `timeoutMs`). */
  close(timeoutMs: number): Promise<void>;
}


let requestCounter = 0;

interface OpenStream {
  call: ServerDuplexStream<ModelInferRequest, unknown>;
  pending: number;
  halfClosed: boolean;
  ended: boolean;
}

/** Draining, or past it with the HTTP listener closed: streams take no new requests. */
const isDraining = (state: string) => state === 'draining' || state === 'closed';

/** The service implementations and the hooks serve.ts drives, without a socket. */
export function createGrpcHandlers(deps: GrpcServerDeps) {
  const health = createHealthService(deps.state);
  const calls = new InferCalls(deps);
  return {
    inference: inferenceImplementation(deps, calls),
    health: health.implementation,
    stateChanged() {
      health.notify();
      calls.stateChanged();
    },
    /** Ends what is still open: health watchers and idle streams. */
    closeStreams() {
      health.close();
      calls.closeStreams();
    },
  };
}

/** The served model for a name and version; UNAVAILABLE while it loads. gRPC sends an empty version for "any". */
function resolveModel(deps: GrpcServerDeps, name: string, version: string): ServedModel {
  return lookupModel(deps, name, version || undefined);
}

/** A unary handler: the result, or the error as a gRPC status. */
function unary<Req>(logger: GrpcServerDeps['logger'], fn: (req: Req) => unknown | Promise<unknown>) {
  return (call: ServerUnaryCall<Req, unknown>, callback: sendUnaryData<unknown>) => {
    Promise.resolve().then(() => fn(call.request)).then(
      (res) => callback(null, res),
      (err) => {
        const e = asRuntimeError(err);
        if (e.reason === 'Internal') logger.error('grpc request failed', { path: call.getPath(), error: e.message });
        callback(toServiceError(e));
      },
    );
  };
}

/** inference.GRPCInferenceService: the protocol core's answers, and inference through `calls`. */
function inferenceImplementation(deps: GrpcServerDeps, calls: InferCalls): UntypedServiceImplementation {
  const { logger } = deps;
  return {
    ServerLive: unary(logger, () => ({ live: true })),
    ServerReady: unary(logger, () => ({ ready: deps.state() === 'ready' })),
    ServerMetadata: unary(logger, () => ({ name: SERVER_NAME, version: deps.version, extensions: EXTENSIONS })),
    // Ready or not while the model loads (no error), as long as the name is known.
    ModelReady: unary(logger, (r: { name: string; version: string }) => {
      checkModelName(deps, r.name, r.version || undefined);
      return { ready: deps.state() === 'ready' && deps.model() !== undefined };
    }),
    ModelMetadata: unary(logger, (r: { name: string; version: string }) => modelMetadata(resolveModel(deps, r.name, r.version))),
    ModelConfig: unary(logger, (r: { name: string; version: string }) => ({ config: modelConfig(resolveModel(deps, r.name, r.version)) })),
    ModelStatistics: unary(logger, async (r: { name: string; version: string }) => {
      if (r.name !== '') resolveModel(deps, r.name, r.version);
      else if (!deps.model()) return { model_stats: [] };
      // resolveModel() has refused an unknown name or version; an empty name asks for every model.
      return grpcStatistics(statisticsResponse([deps.statistics], { ...(r.name ? { name: r.name } : {}), ...(r.version ? { version: r.version } : {}) }).model_stats);
    }),
    RepositoryIndex: unary(logger, (r: { repository_name: string; ready: boolean }) => ({ models: repositoryIndex(deps, { repositoryName: r.repository_name, readyOnly: r.ready }) })),
    ModelInfer: unary(logger, calls.infer),
    ModelStreamInfer: (call: ServerDuplexStream<ModelInferRequest, unknown>) => calls.serveStream(call),
  };
}

/** A stream's answer to a request that failed: the error in the message, the stream stays open. */
function streamError(msg: ModelInferRequest, err: RuntimeError) {
  return {
    error_message: grpcMessage(err),
    infer_response: { model_name: msg.model_name, model_version: msg.model_version, id: msg.id },
  };
}

/** Inference calls, unary and streamed, and the streams open now (which a drain ends once their answers are sent). */
class InferCalls {
  private readonly logger: GrpcServerDeps['logger'];
  // Winston builds and pipes a record even for a filtered level: decide once, off the hot path.
  private readonly debug: boolean;
  private readonly streams = new Set<OpenStream>();

  constructor(private readonly deps: GrpcServerDeps) {
    this.logger = deps.logger;
    this.debug = deps.logger.isLevelEnabled('debug');
  }

  /** One request from its arrival to its answer, or the error refusing it. An arrow: unary() takes it as it is. */
  readonly infer = async (msg: ModelInferRequest): Promise<ModelInferResponse> => {
    const { deps, logger } = this;
    const started = performance.now();
    const requestId = msg.id || `g${++requestCounter}`;
    let m: ServedModel | undefined;
    let error: RuntimeError | undefined;
    deps.inflight.count++;
    // The message arrived whole: its bytes are admitted at once, against the budget HTTP bodies draw on too.
    const reservation = new Reservation(deps.inflightBytes);
    try {
      m = resolveModel(deps, msg.model_name, msg.model_version);
      reservation.add(messageBytes(msg));
      const req = decodeInferRequest(msg, m.signature);
      const decoded = performance.now();
      const outputs = await m.scheduler.submit(req);
      const computed = performance.now();
      reservation.release();
      const response = encodeInferResponse(m.name, MODEL_VERSION, m.signature, req, outputs);
      const answered = performance.now();
      deps.statistics.answered(req, { arrived: started, decodeStarted: started, decoded, computed, answered }, m.maxBatchSize > 1);
      if (this.debug) logger.debug('inference', { requestId, model: m.name, protocol: 'grpc', ms: +(performance.now() - started).toFixed(3) });
      return response;
    } catch (err) {
      error = asRuntimeError(err);
      deps.statistics.failed((performance.now() - started) / 1000);
      logger.log(error.status >= 500 && error.status !== 503 ? 'warn' : 'info', 'inference refused', { requestId, model: msg.model_name, protocol: 'grpc', reason: error.reason, error: error.message });
      throw error;
    } finally {
      reservation.release();
      deps.inflight.count--;
      if (m) {
        m.metrics.requests.inc({ model: m.name, protocol: 'grpc', outcome: outcomeOf(error?.status ?? 200) });
        m.metrics.requestSeconds.observe({ model: m.name, protocol: 'grpc' }, (performance.now() - started) / 1000);
      }
    }
  };

  /** ModelStreamInfer: each request answered in the stream as it completes; a draining server refuses new ones. */
  serveStream(call: ServerDuplexStream<ModelInferRequest, unknown>): void {
    const s: OpenStream = { call, pending: 0, halfClosed: false, ended: false };
    this.streams.add(s);
    call.on('data', (msg: ModelInferRequest) => {
      if (s.ended) return;
      if (isDraining(this.deps.state())) {
        call.write(streamError(msg, new RuntimeError('ShuttingDown', 'server is shutting down; retry on another replica')));
        return;
      }
      s.pending++;
      this.infer(msg).then(
        (res) => ({ error_message: '', infer_response: res }),
        (err) => streamError(msg, asRuntimeError(err)),
      ).then((answer) => {
        s.pending--;
        if (!s.ended) call.write(answer);
        this.endIfDone(s);
      });
    });
    call.on('end', () => {
      s.halfClosed = true;
      this.endIfDone(s);
    });
    const forget = () => {
      s.ended = true;
      this.streams.delete(s);
    };
    call.on('cancelled', forget);
    call.on('error', forget);
  }

  /** On draining, streams with nothing in flight end. */
  stateChanged(): void {
    if (isDraining(this.deps.state())) for (const s of [...this.streams]) this.endIfDone(s);
  }

  closeStreams(): void {
    for (const s of [...this.streams]) {
      s.ended = true;
      s.call.end();
    }
    this.streams.clear();
  }

  /** Ends a stream with nothing in flight once the client has half-closed it or the server drains. */
  private endIfDone(s: OpenStream): void {
    if (s.ended || s.pending > 0) return;
    if (!s.halfClosed && !isDraining(this.deps.state())) return;
    s.ended = true;
    this.streams.delete(s);
    s.call.end();
  }
}

/**
 * Node's HTTP/2 sessions start with 64 KiB flow-control windows and grpc-js never widens them, so a client sending a
 * 100 KB tensor stalls for window updates several times per request. Widening the windows of every new session
 * lets a whole request travel in one go (what gRPC's C core does through bandwidth probing).
 */
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;

function widenFlowControlWindows(server: Server): void {
  const http2Servers = (server as unknown as { http2Servers?: Map<Http2Server | Http2SecureServer, unknown> }).http2Servers;
  for (const h of http2Servers?.keys() ?? []) {
    h.on('session', (session: ServerHttp2Session) => {
      session.setLocalWindowSize(SESSION_WINDOW_BYTES);
      session.settings({ initialWindowSize: STREAM_WINDOW_BYTES });
    });
  }
}

/** The inference service as served: its infer requests' deserializers note which requests own their buffers. */
function servedInferenceDefinition(): ServiceDefinition {
  const infers = new Set(['ModelInfer', 'ModelStreamInfer']);
  return Object.fromEntries(Object.entries(inferenceService().definition).map(([name, method]) => [
    name,
    infers.has(name) ? { ...method, requestDeserialize: ownershipTracking(method.requestDeserialize as (bytes: Buffer) => ModelInferRequest) } : method,
  ]));
}

/** Starts the gRPC server on host:port (0 picks a free port); the receive limit follows the HTTP body limit. */
export async function startGrpcServer(deps: GrpcServerDeps, host: string, port: number): Promise<GrpcRuntimeServer> {
  // grpc-js writes its own errors as plain text on stderr: route them into the JSON log.
  setLogger({ error: (...args: unknown[]) => deps.logger.warn('grpc-js', { detail: format(...args) }) });
  const handlers = createGrpcHandlers(deps);
  const server = new Server({
    'grpc.max_receive_message_length': deps.maxBodyBytes,
    'grpc.max_send_message_length': -1,
    'grpc.enable_channelz': 0,
  });
  server.addService(servedInferenceDefinition(), handlers.inference);
  server.addService(healthService().definition, handlers.health);
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  widenFlowControlWindows(server);
  return {
    server,
    port: bound,
    stateChanged: handlers.stateChanged,
    close: (timeoutMs) => new Promise<void>((resolve) => {
      handlers.closeStreams();
      const timer = setTimeout(() => {
        deps.logger.warn('grpc shutdown timed out; closing open calls', { timeoutMs });
        server.forceShutdown();
        resolve();
      }, timeoutMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }),
  };
}

