// The gateway's gRPC path: inference.GRPCInferenceService calls routed by model name to a ready replica's gRPC port,
// least in-flight first, over one reused HTTP/2 session per replica; grpc.health.v1 and the server-level calls
// answered here. As on the HTTP path (proxy.ts), the key check comes once the model is known, a call with no ready
// replica is held by the waiter (the hold queue), and the same per-model counts hear of every exchange; the gateway's
// refusals carry the reason code in a `modelplane-reason` trailer, as the runtime's do.
//
// It is a plain node:http2 (h2c) stream handler, not a grpc-js server with pass-through (de)serializers: grpc-js
// would gather every message whole, hand it over and frame it again on both hops, and it hides whether a failed
// call ever reached a replica. Here frames pass through as they arrive, with backpressure both ways; the handler
// reads only the length prefixes (for the message size limit) and, of the first message, the string in protobuf
// field 1, the model name in every per-model request (ModelInferRequest.model_name, ModelMetadataRequest.name, ...).
// A call whose replica's connection was never established is tried once more on another replica; any other failure
// is the client's to see. ModelStatistics with no name (every model) is refused: replicas are per model, and an
// answer merged from some of them would be a partial truth.
import { createServer, constants as h2, type Http2Server, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Logger } from '../common/logger.js';
import { SERVE_DEFAULTS } from '../common/serve-contract.js';
import { EXTENSIONS, SERVER_NAME, namedRepositoryRefusal } from '../runtime/core.js';
import { pickUpstream, type Acquired, type UpstreamWaiter } from './balance.js';
import { repositoryIndexOf, serverReady, type Directory, type Outcome, type ReadyCondition, type Target, type Upstream } from './directory.js';
import { GrpcCode, encodeGrpcMessage, frameMessage, grpcCodeOfHttp, httpStatusOfGrpc, outcomeOfGrpc, readBoolField, readStringField, messageField, stringField, varintField, MessageScanner } from './grpc-wire.js';
import { noReadyReplica, type Authorize, type ExchangeStats, type Refusal } from './proxy.js';
import { MAX_SESSION_MEMORY_MB, SESSION_WINDOW_BYTES, STREAM_WINDOW_BYTES, UpstreamSessions, sessionKey, type UpstreamSession } from './grpc-sessions.js';

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';
/** Calls routed to a replica: each request message names the model in field 1. */
export const ROUTED_METHODS: ReadonlySet<string> = new Set(['ModelInfer', 'ModelStreamInfer', 'ModelMetadata', 'ModelReady', 'ModelConfig', 'ModelStatistics']);
/** Trailer with the stable reason code of the gateway's own refusals, as the runtime's. */
export const REASON_KEY = 'modelplane-reason';
/** Trailer with the reason of the deployment's Ready condition when no replica is ready (HTTP's Modelplane-Ready-Reason). */
export const READY_REASON_KEY = 'modelplane-ready-reason';
export const RETRY_PUSHBACK_KEY = 'grpc-retry-pushback-ms';

export interface GrpcGatewayOptions {
  directory: Directory;
  /** Finds a replica when none is ready now (the hold queue); default: `refuseWaiter` (UNAVAILABLE at once). */
  waiter?: UpstreamWaiter;
  /** The key check, as the HTTP path's (metadata arrive as headers: authorization, x-api-key); once the model is known. */
  authorize?: Authorize;
  /** With keys, the models a caller may see in RepositoryIndex, or the refusal (the HTTP index's filter). */
  visible?: (headers: IncomingHttpHeaders) => ((model: string) => boolean) | Refusal;
  /** Largest request message; a larger one is answered RESOURCE_EXHAUSTED. Default: the runtime's --max-body-bytes default. */
  maxMessageBytes?: number;
  /** Longest wait for a connection to a replica; default 5000. */
  connectTimeoutMs?: number;
  /** Longest wait for a replica's status on a unary call (a stream may last as long as its client wants); default none. */
  upstreamTimeoutMs?: number;
  /** ServerMetadata's version. */
  version?: string;
  /** The gateway's per-model counts, shared with the HTTP path; gRPC statuses are counted as the HTTP status they stand for. */
  stats?: ExchangeStats;
  /** Hears of every exchange on a target (after the key check), with the replica that took it, if one did. */
  onExchange?: (target: Target, outcome: Outcome, seconds: number, upstream?: Upstream) => void;
  /** Counts calls being handled, for a graceful stop (the HTTP path's counter may be shared). */
  inflight?: { count: number };
  logger?: Logger;
}

export interface GrpcGateway {
  /** The h2c server, its streams handled by `handler`. */
  readonly server: Http2Server;
  /** Handles one HTTP/2 stream (for a server of the caller's own). */
  handler(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
  /** Listens on `port` (0: any free port) and resolves with the port bound. */
  listen(port: number, host?: string): Promise<number>;
  /** Stops listening, ends client and replica sessions. */
  close(): Promise<void>;
}

/** A waiter that never holds: 503 NoReadyReplica with the deployment's Ready condition, at once. */
export const refuseWaiter: UpstreamWaiter = {
  acquire(target, done) {
    done(noReadyReplica(target));
    return { cancel() {} };
  },
};

type Settings = Omit<GrpcGatewayOptions, 'waiter' | 'maxMessageBytes' | 'version' | 'inflight'> & {
  waiter: UpstreamWaiter;
  maxMessageBytes: number;
  version: string;
  inflight: { count: number };
  sessions: UpstreamSessions;
};

export function createGrpcGateway(options: GrpcGatewayOptions): GrpcGateway {
  const sessions = new UpstreamSessions(options.connectTimeoutMs ?? 5000, options.logger);
  const settings: Settings = {
    ...options,
    waiter: options.waiter ?? refuseWaiter,
    maxMessageBytes: options.maxMessageBytes ?? SERVE_DEFAULTS.maxBodyBytes,
    version: options.version ?? '',
    inflight: options.inflight ?? { count: 0 },
    sessions,
  };
  let closed = false;
  // Sessions to replicas that left (scaled in, replaced) are closed once their calls finish.
  options.directory.subscribe(() => {
    if (!closed) sessions.keepOnly(grpcKeys(options.directory));
  });
  const handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => handleStream(settings, stream, headers);
  const server = createServer({ settings: { initialWindowSize: STREAM_WINDOW_BYTES }, maxSessionMemory: MAX_SESSION_MEMORY_MB });
  const clients = new Set<ServerHttp2Session>();
  server.on('session', (s) => {
    clients.add(s);
    s.on('close', () => clients.delete(s));
    s.on('error', () => {});
    s.on('connect', () => s.setLocalWindowSize(SESSION_WINDOW_BYTES));
  });
  server.on('stream', handler);
  return {
    server,
    handler,
    listen: (port, host = '0.0.0.0') => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    }),
    close: () => new Promise((resolve) => {
      closed = true;
      sessions.destroyAll();
      for (const s of clients) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    }),
  };
}

function grpcKeys(directory: Directory): Set<string> {
  const keys = new Set<string>();
  for (const t of directory.list()) for (const u of t.upstreams()) if (u.grpcPort) keys.add(sessionKey(u.host, u.grpcPort));
  return keys;
}

/** A gRPC call is handled by a GrpcCall; anything else is refused as gRPC servers refuse it. */
function handleStream(settings: Settings, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', () => {});
  const contentType = String(headers['content-type'] ?? '');
  if (headers[':method'] !== 'POST' || !contentType.startsWith('application/grpc')) {
    // gRPC's answer to a request that is not gRPC (doc/PROTOCOL-HTTP2.md): 415, no gRPC status.
    stream.respond({ ':status': 415 }, { endStream: true });
    return;
  }
  new GrpcCall(settings, stream, headers);
}

/**
 * The headers (metadata) passed to the next hop: all but pseudo-headers and the date, which each hop writes for
 * itself, and, with `stripKeys` (API keys on), the key headers: a key stays at the gateway.
 */
function passOn(headers: IncomingHttpHeaders, stripKeys = false): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (name[0] === ':' || name === 'date' || (stripKeys && (name === 'authorization' || name === 'x-api-key'))) continue;
    out[name] = headers[name];
  }
  return out;
}

/**
 * One call from its headers to its end: reads up to the model name, asks for a replica, then passes frames both
 * ways until either side ends. Its stream's 'close' ends the exchange: meters hear of it and the replica's
 * in-flight count drops, exactly once.
 */
class GrpcCall {
  private readonly service: string;
  private readonly method: string;
  private readonly scanner: MessageScanner;
  /** Request chunks not yet sent, or sent on a session that never connected (a retry sends them again). */
  private held: Buffer[] | undefined = [];
  private routed = false;
  private target?: Target;
  private started = 0;
  private upstream?: Upstream;
  private session?: UpstreamSession;
  private upstreamCall?: ReturnType<UpstreamSession['session']['request']>;
  private waiting?: { cancel(): void };
  private retried = false;
  private clientEnded = false;
  /** The status the client was given, once it was. */
  private code?: number;
  private trailers?: OutgoingHttpHeaders;
  /** When the call was first sent to a replica. */
  private sentAt?: number;
  private timer?: NodeJS.Timeout;

  constructor(private readonly s: Settings, private readonly stream: ServerHttp2Stream, private readonly headers: IncomingHttpHeaders) {
    const path = String(headers[':path'] ?? '');
    const slash = path.lastIndexOf('/');
    this.service = path.slice(1, slash);
    this.method = path.slice(slash + 1);
    this.scanner = new MessageScanner(s.maxMessageBytes);
    s.inflight.count++;
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onEnd());
    stream.on('close', () => this.finish());
    stream.on('wantTrailers', () => stream.sendTrailers(this.trailers ?? { 'grpc-status': String(GrpcCode.OK) }));
    if (this.service !== INFERENCE_SERVICE && this.service !== HEALTH_SERVICE) {
      this.fail(GrpcCode.UNIMPLEMENTED, 'UnknownService', `unknown service ${this.service}; this gateway serves ${INFERENCE_SERVICE} and ${HEALTH_SERVICE}`);
    } else if (this.service === INFERENCE_SERVICE && !ROUTED_METHODS.has(this.method) && !LOCAL_INFERENCE_METHODS.has(this.method)) {
      this.fail(GrpcCode.UNIMPLEMENTED, 'UnknownMethod', `unknown method ${this.method} of ${INFERENCE_SERVICE}`);
    }
  }

  /** The client's stream is closed or being destroyed: nothing more can be sent on it. */
  private get gone(): boolean {
    return this.stream.closed || this.stream.destroyed;
  }

  private get routedByModel(): boolean {
    return this.service === INFERENCE_SERVICE && ROUTED_METHODS.has(this.method);
  }

  private onData(chunk: Buffer): void {
    if (this.code !== undefined) return;
    const tooLarge = this.scanner.scan(chunk);
    if (tooLarge !== undefined) {
      this.fail(GrpcCode.RESOURCE_EXHAUSTED, 'MessageTooLarge', `a request message of ${tooLarge} bytes is over the gateway's limit of ${this.s.maxMessageBytes} bytes (maxMessageBytes)`);
      return;
    }
    if (this.upstreamCall) {
      if (this.held && !this.session!.connected) this.held.push(chunk);
      else this.held = undefined;
      if (!this.upstreamCall.write(chunk)) {
        this.stream.pause();
        this.upstreamCall.once('drain', () => this.stream.resume());
      }
      return;
    }
    this.held!.push(chunk);
    if (this.routedByModel && !this.routed) this.route();
  }

  private onEnd(): void {
    this.clientEnded = true;
    if (this.code !== undefined) return;
    if (!this.scanner.atBoundary) {
      this.fail(GrpcCode.INTERNAL, 'TruncatedMessage', 'the request stream ended inside a message');
    } else if (this.upstreamCall) {
      this.upstreamCall.end();
    } else if (!this.routedByModel) {
      this.answerHere();
    } else if (!this.routed) {
      this.route();
    }
  }

  /** The model name from the first message, once it can be read; then the target and a replica for it. */
  private route(): void {
    const name = this.modelName();
    if (name === undefined) return;
    this.routed = true;
    // A stream closed before its first request asked nothing: it ends as it began.
    if (name === null) return this.answer();
    if (typeof name !== 'string') return this.fail(GrpcCode.INVALID_ARGUMENT, 'InvalidRequest', name.error);
    if (this.method === 'ModelStatistics' && name === '') {
      return this.fail(GrpcCode.INVALID_ARGUMENT, 'ModelNameRequired', 'ModelStatistics through the gateway needs a model name: each model is served by its own replicas; ask for each model by name');
    }
    const target = this.s.directory.lookup(name);
    if (!target) return this.fail(GrpcCode.NOT_FOUND, 'ModelNotFound', `model "${name}" is not served by this gateway`);
    const refusal = this.s.authorize?.(this.headers, name);
    if (refusal) return this.refuse(refusal);
    this.target = target;
    this.started = performance.now();
    target.observer?.begin();
    this.s.stats?.begin(target);
    const upstream = pickUpstream(target);
    if (upstream) return this.forward(upstream);
    // Further messages wait in the client's flow-control window while the call is held.
    this.stream.pause();
    this.waiting = this.s.waiter.acquire(target, (result) => this.acquired(result));
  }

  /**
   * The first message's field 1: a string, `{error}` when the message cannot hold one, undefined while more bytes
   * are needed, null for a ModelStreamInfer stream that ended with no message.
   */
  private modelName(): string | { error: string } | null | undefined {
    const sc = this.scanner;
    if (sc.messages === 0) {
      if (!this.clientEnded) return undefined;
      return this.method === 'ModelStreamInfer' ? null : { error: `${this.method} needs a request message` };
    }
    if (sc.firstCompressed && !sc.firstComplete) return undefined;
    const bytes = sc.firstCompressed ? this.decompress(sc.first()) : sc.first();
    if (!Buffer.isBuffer(bytes)) return bytes;
    const read = readStringField(bytes, 1);
    if ('value' in read) return read.value;
    if ('malformed' in read) return { error: `the request message is not a valid ${this.method} request: ${read.malformed}` };
    if (!sc.firstComplete) return undefined;
    return 'absent' in read ? '' : { error: `the request message is not a valid ${this.method} request: it ends inside a field` };
  }

  private decompress(bytes: Buffer): Buffer | { error: string } {
    const encoding = String(this.headers['grpc-encoding'] ?? 'identity');
    const opts = { maxOutputLength: this.s.maxMessageBytes };
    try {
      if (encoding === 'gzip') return gunzipSync(bytes, opts);
      if (encoding === 'deflate') return inflateSync(bytes, opts);
    } catch (err) {
      return { error: `the request message cannot be decompressed (${encoding}): ${(err as Error).message}` };
    }
    return { error: `grpc-encoding "${encoding}" is not one the gateway reads (gzip, deflate)` };
  }

  private refuse(r: Refusal & { ready?: ReadyCondition }): void {
    this.fail(grpcCodeOfHttp(r.status), r.reason, r.message, r.retryAfterSeconds, r.ready?.reason);
  }

  private acquired(result: Acquired): void {
    this.waiting = undefined;
    if (this.code !== undefined || this.gone) return;
    if ('upstream' in result) this.forward(result.upstream);
    else this.refuse(result);
  }

  /** Sends the call to `upstream`: what arrived so far, then the rest as it arrives. */
  private forward(upstream: Upstream): void {
    this.upstream = upstream;
    upstream.inflight++;
    if (!upstream.grpcPort) {
      return this.fail(GrpcCode.UNIMPLEMENTED, 'GrpcNotServed', `replica ${upstream.id} of model ${this.target!.model} serves no gRPC`);
    }
    const session = this.s.sessions.get(upstream as Upstream & { grpcPort: number });
    this.session = session;
    if (this.sentAt === undefined) {
      this.sentAt = performance.now();
      this.startTimer();
    }
    const headers: OutgoingHttpHeaders = { ...passOn(this.headers, this.s.authorize !== undefined), ':method': 'POST', ':scheme': 'http', ':path': this.headers[':path'], ':authority': session.key };
    const call = session.session.request(headers);
    this.upstreamCall = call;
    for (const chunk of this.held!) call.write(chunk);
    if (session.connected) this.held = undefined;
    if (this.clientEnded) call.end();
    else this.stream.resume();
    call.on('response', (h) => this.onResponse(h));
    call.on('data', (chunk: Buffer) => {
      if (!this.stream.write(chunk)) {
        call.pause();
        this.stream.once('drain', () => call.resume());
      }
    });
    call.on('trailers', (t) => (this.trailers = passOn(t)));
    call.on('end', () => this.onUpstreamEnd());
    call.on('error', (err) => this.onUpstreamFailed(call, err.message));
    call.on('close', () => this.onUpstreamFailed(call, `stream reset (HTTP/2 code ${call.rstCode})`));
  }

  /** A unary call's deadline at the gateway: streams last as long as their clients want. */
  private startTimer(): void {
    const ms = this.s.upstreamTimeoutMs;
    if (!ms || this.method === 'ModelStreamInfer') return;
    this.timer = setTimeout(() => {
      this.fail(GrpcCode.DEADLINE_EXCEEDED, 'UpstreamTimeout', `replica ${this.upstream?.id} of model ${this.target!.model} gave no answer within ${ms} ms`);
    }, ms);
  }

  private onResponse(h: IncomingHttpHeaders): void {
    if (this.code !== undefined || this.gone) return;
    const headers = { ...passOn(h), ':status': h[':status'] ?? 200 };
    if (h['grpc-status'] !== undefined) {
      // Trailers-only: the replica's status without messages.
      this.code = Number(h['grpc-status']);
      this.stream.respond(headers, { endStream: true });
    } else {
      this.stream.respond(headers, { waitForTrailers: true });
    }
  }

  private onUpstreamEnd(): void {
    const call = this.upstreamCall;
    if (!call || this.code !== undefined || this.gone) return;
    // A stream reset by the replica ends too, without trailers.
    if (this.trailers?.['grpc-status'] === undefined) {
      return this.onUpstreamFailed(call, call.rstCode ? `stream reset (HTTP/2 code ${call.rstCode})` : 'the call ended without a status');
    }
    this.code = Number(this.trailers['grpc-status']);
    this.stream.end();
  }

  /** The replica's stream failed: once more elsewhere when nothing reached it, else the client hears of it. */
  private onUpstreamFailed(call: ReturnType<UpstreamSession['session']['request']>, why: string): void {
    if (call !== this.upstreamCall || this.code !== undefined || this.gone) return;
    const failed = this.upstream!;
    this.upstreamCall = undefined;
    if (!this.session!.connected && this.held && !this.retried) {
      this.retried = true;
      failed.inflight--;
      this.upstream = undefined;
      const other = pickUpstream(this.target!, failed);
      if (other) {
        this.s.logger?.info('grpc call sent to another replica', { model: this.target!.model, failed: failed.id, to: other.id, error: why });
        return this.forward(other);
      }
      this.upstream = failed;
      failed.inflight++;
    }
    const reason = this.session!.connected ? 'UpstreamFailed' : 'UpstreamUnreachable';
    this.fail(GrpcCode.UNAVAILABLE, reason, `replica ${failed.id} of model ${this.target!.model} failed: ${why}; retry later`);
  }

  /** ServerLive, ServerReady, ServerMetadata, RepositoryIndex and health checks, answered by the gateway. */
  private answerHere(): void {
    if (this.service === HEALTH_SERVICE) return this.answerHealth();
    if (this.method === 'ServerLive') return this.answer(varintField(1, true));
    if (this.method === 'ServerReady') return this.answer(varintField(1, serverReady(this.s.directory.list())));
    if (this.method === 'RepositoryIndex') return this.answerIndex();
    const extensions = EXTENSIONS.map((e) => stringField(3, e));
    this.answer(Buffer.concat([stringField(1, SERVER_NAME), stringField(2, this.s.version), ...extensions]));
  }

  /** Every model behind the gateway (those the caller's key may see), with Triton's states; `ready`: READY ones only. */
  private answerIndex(): void {
    const request = this.scanner.messages ? this.scanner.first() : Buffer.alloc(0);
    const repository = readStringField(request, 1);
    const readyOnly = readBoolField(request, 2);
    if ('malformed' in repository || 'truncated' in repository || 'malformed' in readyOnly) {
      return this.fail(GrpcCode.INVALID_ARGUMENT, 'InvalidRequest', `RepositoryIndexRequest: ${'malformed' in readyOnly ? readyOnly.malformed : 'malformed' in repository ? repository.malformed : 'it ends inside a field'}`);
    }
    const named = namedRepositoryRefusal('value' in repository ? repository.value : undefined);
    if (named) return this.fail(GrpcCode.UNIMPLEMENTED, named.reason, named.message);
    const filter = this.s.visible?.(this.headers);
    if (filter !== undefined && typeof filter !== 'function') return this.refuse(filter);
    const targets = this.s.directory.list().filter((t) => filter === undefined || filter(t.model));
    const models = repositoryIndexOf(targets, readyOnly.value)
      .map((m) => messageField(1, Buffer.concat([stringField(1, m.name), stringField(2, m.version), stringField(3, m.state), stringField(4, m.reason)])));
    this.answer(Buffer.concat(models));
  }

  private answerHealth(): void {
    if (this.method !== 'Check') return this.fail(GrpcCode.UNIMPLEMENTED, 'UnknownMethod', `the gateway answers ${HEALTH_SERVICE}/Check only`);
    const read = this.scanner.messages ? readStringField(this.scanner.first(), 1) : { absent: true as const };
    const service = 'value' in read ? read.value : '';
    if (service !== '' && service !== INFERENCE_SERVICE) {
      return this.fail(GrpcCode.NOT_FOUND, 'UnknownService', `unknown service "${service}"; this gateway reports on "" and "${INFERENCE_SERVICE}"`);
    }
    this.answer(varintField(1, SERVING));
  }

  /** Answers OK with `message`, or with none. */
  private answer(message?: Buffer): void {
    this.code = GrpcCode.OK;
    this.stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    this.stream.end(message ? frameMessage(message) : undefined);
  }

  /** Ends the call with `code`: as a trailers-only answer, or in the trailers after what was passed on. */
  private fail(code: number, reason: string, message: string, retryAfterSeconds?: number, readyReason?: string): void {
    if (this.code !== undefined || this.gone) return;
    this.code = code;
    this.upstreamCall?.close(h2.NGHTTP2_CANCEL);
    this.upstreamCall = undefined;
    this.held = undefined;
    const trailers = statusTrailers(code, reason, message, retryAfterSeconds);
    if (readyReason) trailers[READY_REASON_KEY] = readyReason;
    // Whatever else the client sends is read and dropped.
    this.stream.resume();
    if (this.stream.headersSent) {
      this.trailers = trailers;
      this.stream.end();
    } else {
      this.stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...trailers }, { endStream: true });
    }
  }

  /** The stream closed: the exchange is over, however it ended. */
  private finish(): void {
    this.s.inflight.count--;
    clearTimeout(this.timer);
    this.waiting?.cancel();
    this.waiting = undefined;
    this.upstreamCall?.close(h2.NGHTTP2_CANCEL);
    this.upstreamCall = undefined;
    if (this.upstream) this.upstream.inflight--;
    if (!this.target) return;
    // A client that went away before its status was sent cancelled the call.
    const code = this.code ?? GrpcCode.CANCELLED;
    const outcome = outcomeOfGrpc(code);
    const now = performance.now();
    const seconds = (now - this.started) / 1000;
    this.target.observer?.end(outcome, seconds);
    this.s.stats?.end(this.target, httpStatusOfGrpc(code), outcome, this.sentAt === undefined ? undefined : (now - this.sentAt) / 1000);
    this.s.onExchange?.(this.target, outcome, seconds, this.upstream);
  }
}

const LOCAL_INFERENCE_METHODS: ReadonlySet<string> = new Set(['ServerLive', 'ServerReady', 'ServerMetadata', 'RepositoryIndex']);
/** grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING */
const SERVING = 1;

function statusTrailers(code: number, reason: string, message: string, retryAfterSeconds?: number): OutgoingHttpHeaders {
  const t: OutgoingHttpHeaders = { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message), [REASON_KEY]: reason };
  if (retryAfterSeconds !== undefined) t[RETRY_PUSHBACK_KEY] = String(Math.round(retryAfterSeconds * 1000));
  return t;
}
