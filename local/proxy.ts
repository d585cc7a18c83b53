// The inference path: every /v2/models/{name}/... request goes to the least-loaded ready replica of the
// ModelDeployment serving {name}, over keep-alive connections. Replica answers other than a 503 stream back as they
// arrive. The request body is read whole first, capped by maxBodyBytes, so that a request whose replica dies before
// answering can be sent once more to another replica (inference is idempotent). Streaming it instead would save
// little: a replica starts computing only once it has the whole body, so only the loopback copy would overlap, and a
// body that arrives in one chunk, the usual case, is passed on without a copy.
//
// OpenAI's POST /v1/completions and /v1/chat/completions name their model in the JSON body, not the path: for those the
// body, read whole anyway, is parsed once for its `model` before a deployment is chosen, and every error the router
// itself gives is in OpenAI's shape. Answers, server-sent event streams included, are written to the client chunk by
// chunk as the replica writes them; a stream is in flight (for the replica's count and the meter) until its last
// byte, and a client that goes away mid-stream takes the upstream connection with it, so the replica stops the
// sequence.
//
// This runs once per inference request, so it is written for the CPU it costs: one object per request and the
// listeners it needs (no promises, no stream pipes, `on` where an event comes once anyway, since `once` wraps each
// listener), header lists passed on as raw arrays (no header objects built), the model name cut from the path
// without a regular expression. bench:local holds it against a minimal node:http proxy on the same load.
import { request, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { ApiError } from '../runtime/generate/errors.js';
import type { LocalDeployment } from './deployment.js';
import type { Outcome } from './load-meter.js';
import type { Replica } from './replica.js';

export interface ProxyOptions {
  /** The deployment serving a model name. */
  lookup: (model: string) => LocalDeployment | undefined;
  maxBodyBytes: number;
  /** Longest wait for a replica's answer. */
  upstreamTimeoutMs: number;
  /** Counts requests the router is handling, for a graceful stop. */
  inflight: { count: number };
}

/** How the router's own errors read: the Open Inference Protocol's {error, reason}, or OpenAI's {error: {message, type, param, code}}. */
type ErrorShape = 'oip' | 'openai';

/** OpenAI's error code for one of the router's reasons: ModelNotFound -> model_not_found. */
export function openAiCode(reason: string): string {
  return reason.replace(/[A-Z]/g, (c, i: number) => `${i ? '_' : ''}${c.toLowerCase()}`);
}

function errorBody(shape: ErrorShape, status: number, reason: string, message: string, param: string | null = null): Record<string, unknown> {
  return shape === 'oip' ? { error: message, reason } : new ApiError(status, message, param, openAiCode(reason)).body();
}

function sendError(res: ServerResponse, status: number, reason: string, message: string, extra?: string[], shape: ErrorShape = 'oip', param: string | null = null): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(shape, status, reason, message, param));
  const headers = ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body))];
  if (extra) headers.push(...extra);
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * Whether a header stays on its hop: the connection-level ones, Expect (this hop already answered it), and
 * Content-Length (set from the body actually read). Lengths first, so most names are let through without lowercasing.
 */
function isHopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
      return name.toLowerCase() === 'te';
    case 6:
      return name.toLowerCase() === 'expect';
    case 7: {
      const n = name.toLowerCase();
      return n === 'trailer' || n === 'upgrade';
    }
    case 10: {
      const n = name.toLowerCase();
      return n === 'connection' || n === 'keep-alive';
    }
    case 14:
      return name.toLowerCase() === 'content-length';
    case 16:
      return name.toLowerCase() === 'proxy-connection';
    case 17:
      return name.toLowerCase() === 'transfer-encoding';
    case 18:
      return name.toLowerCase() === 'proxy-authenticate';
    case 19:
      return name.toLowerCase() === 'proxy-authorization';
    default:
      return false;
  }
}

/** Raw headers (name, value, name, value...) without the hop-by-hop ones, Content-Length set when given. */
function endToEnd(raw: string[], contentLength?: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (!isHopByHop(name)) out.push(name, raw[i + 1]);
    else if (contentLength === undefined && name.length === 14 && name.toLowerCase() === 'content-length') out.push(name, raw[i + 1]);
  }
  if (contentLength !== undefined) out.push('Content-Length', contentLength);
  return out;
}

const MODELS_PREFIX = '/v2/models/';

/** The model name in /v2/models/{name}[/...], URL-decoded; undefined when the path has none. */
export function modelOfPath(url: string): string | undefined {
  if (!url.startsWith(MODELS_PREFIX)) return undefined;
  const from = MODELS_PREFIX.length;
  let end = from;
  for (; end < url.length; end++) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
  }
  if (end === from) return undefined;
  const raw = url.slice(from, end);
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** Header of a 503 NoReadyReplica: the reason of the deployment's Ready condition (ModelLoadFailed, CrashLoop, ...). */
export const READY_REASON_HEADER = 'Modelplane-Ready-Reason';

/**
 * 503 NoReadyReplica, saying why: the deployment's Ready condition (its reason and message) in the body and the reason
 * in a header, so a client sees ModelLoadFailed and onnxruntime's words rather than only "not ready".
 */
function noReadyReplica(res: ServerResponse, dep: Pick<LocalDeployment, 'name' | 'status'>, shape: ErrorShape): void {
  // Before its first status (just read from the files), a deployment has no Ready condition yet.
  const ready = dep.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready || ready.status === 'True') {
    sendError(res, 503, 'NoReadyReplica', `no replica of ${dep.name} is ready yet`, ['Retry-After', '1'], shape);
    return;
  }
  const why = ready.message.startsWith(`${ready.reason}: `) ? ready.message : `${ready.reason}: ${ready.message}`;
  const message = `no replica of ${dep.name} is ready: ${why}`;
  const body = JSON.stringify(shape === 'oip' ? { error: message, reason: 'NoReadyReplica', status: { reason: ready.reason, message: ready.message } } : errorBody(shape, 503, 'NoReadyReplica', message));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(503, ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body)), 'Retry-After', '1', READY_REASON_HEADER, ready.reason]);
  res.end(body);
}

/** The runtime's reasons for a 503 that another replica would not give: it is loading or draining. */
const NOT_SERVING = new Set(['NotReady', 'ShuttingDown']);

const ignore = (): void => undefined;

export function createProxy(opts: ProxyOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const model = modelOfPath(req.url ?? '');
    const dep = model === undefined ? undefined : opts.lookup(model);
    if (!dep) {
      sendError(res, 404, 'ModelNotFound', `model ${JSON.stringify(model ?? '')} is not served here; POST /v2/repository/index lists the models`);
      return;
    }
    new Exchange(req, res, dep, opts, 'oip').readBody();
  };
}

const OPENAI_PATHS = ['/v1/completions', '/v1/chat/completions'];

/** Whether a request goes to OpenAI's inference routes (/v1/completions, /v1/chat/completions), a trailing / or query allowed. */
export function isOpenAiInference(url: string): boolean {
  if (!url.startsWith('/v1/')) return false;
  let end = url.indexOf('?');
  if (end < 0) end = url.length;
  if (url.charCodeAt(end - 1) === 47 /* / */) end--;
  const path = url.slice(0, end);
  return OPENAI_PATHS.includes(path);
}

/**
 * OpenAI's inference routes: the deployment is the one serving the body's `model`. A body that is not JSON, or has no
 * model, is 400; a model not served here 404, in OpenAI's shape, as the runtime words them.
 */
export function createOpenAiProxy(opts: ProxyOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'POST') {
      req.resume();
      sendError(res, 405, 'MethodNotAllowed', `${req.method} ${req.url}: use POST`, undefined, 'openai');
      return;
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      req.resume();
      res.setHeader('Connection', 'close');
      sendError(res, 415, 'UnsupportedEncoding', `Content-Encoding ${encoding}: the router reads the model from the JSON body; send it uncompressed`, undefined, 'openai');
      return;
    }
    new Exchange(req, res, undefined, opts, 'openai').readBody();
  };
}

/** The model a JSON request body names, or the error to answer with (400 naming the field). */
export function modelOfBody(body: Buffer): { model: string } | { error: string; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { error: `the request body is not valid JSON: ${(err as Error).message}`, reason: 'InvalidJson' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { error: 'the request body must be a JSON object', reason: 'InvalidRequest' };
  const model = (parsed as { model?: unknown }).model;
  if (typeof model !== 'string' || model === '') return { error: 'model: is required: the name of a model served here (GET /v1/models lists them)', reason: 'MissingModel' };
  return { model };
}

/** One inference request through the router: its body, then one try, or two when the first replica failed before answering. */
class Exchange {
  /** Known from the path, or (OpenAI's routes) once the body is read. */
  private dep: LocalDeployment | undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  private body: Buffer = Buffer.alloc(0);
  private started = 0;
  private metered = false;
  private outcome: Outcome = 'failed';
  private replica: Replica | undefined;
  private attempt = 0;
  private up: ClientRequest | undefined;
  /** The current try has ended: answered, or failed and handed on. */
  private attemptDone = true;
  /** A 503 of the current try, read whole to tell a full queue from a replica that stopped serving. */
  private rejection: Buffer[] | undefined;
  private upstreamResponse: IncomingMessage | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    dep: LocalDeployment | undefined,
    private readonly opts: ProxyOptions,
    private readonly shape: ErrorShape,
  ) {
    this.dep = dep;
    opts.inflight.count++;
    res.on('close', this.onClientClose);
  }

  readBody(): void {
    const declared = this.req.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.opts.maxBodyBytes) {
      this.tooLarge();
      return;
    }
    this.req.on('data', this.onBodyData);
    this.req.on('end', this.onBodyEnd);
    this.req.on('error', this.onBodyError);
  }

  private tooLarge(): void {
    this.res.setHeader('Connection', 'close');
    sendError(this.res, 413, 'BodyTooLarge', `request body exceeds the limit of ${this.opts.maxBodyBytes} bytes`, undefined, this.shape);
  }

  private readonly onBodyData = (c: Buffer): void => {
    this.size += c.length;
    if (this.size > this.opts.maxBodyBytes) {
      this.req.removeListener('data', this.onBodyData);
      this.req.removeListener('end', this.onBodyEnd);
      this.req.resume();
      this.chunks = [];
      this.tooLarge();
      return;
    }
    this.chunks.push(c);
  };

  private readonly onBodyEnd = (): void => {
    const chunks = this.chunks;
    this.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size);
    this.chunks = [];
    if (this.dep === undefined && !this.chooseByBody()) return;
    this.started = performance.now();
    this.dep!.meter.begin();
    this.metered = true;
    this.replica = this.dep!.pick();
    this.next();
  };

  /** OpenAI's routes: the deployment serving the body's model; false when the answer is an error, already sent. */
  private chooseByBody(): boolean {
    const named = modelOfBody(this.body);
    if ('error' in named) {
      sendError(this.res, 400, named.reason, named.error, undefined, 'openai', named.reason === 'MissingModel' ? 'model' : null);
      return false;
    }
    this.dep = this.opts.lookup(named.model);
    if (this.dep === undefined) {
      sendError(this.res, 404, 'ModelNotFound', `The model '${named.model}' does not exist`, undefined, 'openai', 'model');
      return false;
    }
    return true;
  }

  private readonly onBodyError = (): void => {
    this.res.destroy();
  };

  private readonly onClientClose = (): void => {
    this.opts.inflight.count--;
    if (!this.attemptDone && !this.res.writableFinished) this.up?.destroy();
    // A client gone mid-answer ends the exchange here, as a client error (a 499 in other proxies' logs); the upstream
    // error that follows finds attemptDone and is not retried.
    if (!this.attemptDone) {
      this.outcome = 'client_error';
      this.settle();
    }
    this.finish();
  };

  /** Sends the body to the current replica, or answers for it when there is none. */
  private next(): void {
    const replica = this.replica;
    if (!replica) {
      this.outcome = 'rejected';
      noReadyReplica(this.res, this.dep!, this.shape);
      this.finish();
      return;
    }
    replica.inflight++;
    this.attemptDone = false;
    const up = request({
      host: '127.0.0.1',
      port: replica.port,
      method: this.req.method,
      path: this.req.url,
      headers: endToEnd(this.req.rawHeaders, String(this.body.length)),
      agent: replica.agent,
      timeout: this.opts.upstreamTimeoutMs,
    });
    this.up = up;
    up.on('timeout', this.onUpstreamTimeout);
    up.on('error', this.onUpstreamError);
    up.on('response', this.onUpstreamResponse);
    up.end(this.body);
  }

  /** The current try is over: the replica's count goes down once. */
  private settle(): void {
    if (this.attemptDone) return;
    this.attemptDone = true;
    this.replica!.inflight--;
  }

  /** The exchange is over: the meter learns its outcome once. */
  private finish(): void {
    if (!this.metered) return;
    this.metered = false;
    this.dep!.meter.end(this.outcome, (performance.now() - this.started) / 1000);
  }

  private answered(): void {
    const status = this.res.statusCode;
    this.outcome = status < 400 ? 'success' : status === 503 ? 'rejected' : status < 500 ? 'client_error' : 'failed';
    this.settle();
    this.finish();
  }

  private readonly onUpstreamTimeout = (): void => {
    this.up?.destroy(new Error(`no answer within ${this.opts.upstreamTimeoutMs} ms`));
  };

  private readonly onUpstreamError = (err: Error): void => {
    if (this.attemptDone) return;
    if (this.res.headersSent) {
      this.res.destroy();
      this.answered();
      return;
    }
    const failed = this.replica!.id;
    this.retryOrGiveUp(() => sendError(this.res, 502, 'ReplicaUnavailable', `replica ${failed} of ${this.dep!.name} failed before answering (${err.message}) and no other replica could take the request`, undefined, this.shape));
  };

  /** The try failed before any answer reached the client: once more on another replica, or `giveUp`. */
  private retryOrGiveUp(giveUp: () => void): void {
    this.settle();
    // The failed try's request says nothing more to this exchange.
    const failed = this.up!;
    failed.removeListener('timeout', this.onUpstreamTimeout);
    failed.removeListener('response', this.onUpstreamResponse);
    failed.removeListener('error', this.onUpstreamError);
    failed.on('error', ignore);
    const tried = this.replica;
    this.replica = this.dep!.pick(tried);
    if (this.replica && this.attempt === 0 && !this.res.destroyed) {
      this.attempt++;
      this.next();
      return;
    }
    giveUp();
    this.finish();
  }

  private readonly onUpstreamResponse = (ur: IncomingMessage): void => {
    this.upstreamResponse = ur;
    if (ur.statusCode === 503) {
      this.rejection = [];
      ur.on('data', this.onRejectionData);
      ur.on('end', this.onRejectionEnd);
      ur.on('error', this.onUpstreamResponseError);
      return;
    }
    this.res.writeHead(ur.statusCode ?? 502, endToEnd(ur.rawHeaders));
    ur.on('data', this.onUpstreamData);
    ur.on('end', this.onUpstreamEnd);
    ur.on('error', this.onUpstreamResponseError);
  };

  private readonly onUpstreamData = (c: Buffer): void => {
    if (!this.res.write(c)) {
      this.upstreamResponse!.pause();
      this.res.once('drain', this.onClientDrain);
    }
  };

  private readonly onClientDrain = (): void => {
    this.upstreamResponse?.resume();
  };

  private readonly onUpstreamEnd = (): void => {
    this.res.end();
    this.answered();
  };

  private readonly onUpstreamResponseError = (): void => {
    this.res.destroy();
    this.answered();
  };

  private readonly onRejectionData = (c: Buffer): void => {
    this.rejection!.push(c);
  };

  private readonly onRejectionEnd = (): void => {
    if (this.attemptDone) return;
    const text = Buffer.concat(this.rejection!);
    const rawHeaders = this.upstreamResponse!.rawHeaders;
    this.rejection = undefined;
    let reason: string | undefined;
    try {
      reason = (JSON.parse(text.toString('utf8')) as { reason?: string }).reason;
    } catch {
      reason = undefined;
    }
    const passOn = () => {
      if (!this.res.headersSent) {
        this.res.writeHead(503, endToEnd(rawHeaders, String(text.length)));
        this.res.end(text);
      }
    };
    if (reason && NOT_SERVING.has(reason)) {
      // This replica is loading or draining: another may serve; the last one's answer is passed on when none does.
      this.retryOrGiveUp(() => {
        this.outcome = 'rejected';
        passOn();
      });
      return;
    }
    passOn();
    this.answered();
  };
}
