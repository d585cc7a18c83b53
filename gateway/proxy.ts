// The gateway's HTTP inference path, the same in a cluster and in local mode: every /v2/models/{name}/... request
// goes to the ready replica with the fewest requests in flight of the ModelDeployment serving {name} (a Target of the
// Directory), over keep-alive connections. Replica answers other than a 503 stream back as they arrive. The request
// body is read whole first, capped by maxBodyBytes, so that a request whose replica dies before answering can be sent
// once more to another replica (inference is idempotent). Streaming it instead would save little: a replica starts
// computing only once it has the whole body, so only the loopback copy would overlap, and a body that arrives in one
// chunk, the usual case, is passed on without a copy.
//
// A request for a deployment with no ready replica is handed to the waiter (hold.ts): held while the deployment
// comes up (from zero too), answered 503 at once when it fails. API keys are checked once the model is known, before
// the body is read where the path names it.
//
// OpenAI's POST /v1/completions and /v1/chat/completions name their model in the JSON body, not the path: for those the
// body, read whole anyway, is parsed once for its `model` before a deployment is chosen, and every error the gateway
// itself gives is in OpenAI's shape. Answers, server-sent event streams included, are written to the client chunk by
// chunk as the replica writes them; a stream is in flight (for the replica's count and the meters) until its last
// byte, and a client that goes away mid-stream takes the upstream connection with it, so the replica stops the
// sequence.
//
// This runs once per inference request, so it is written for the CPU it costs: one object per request and the
// listeners it needs (no promises, no stream pipes, `on` where an event comes once anyway, since `once` wraps each
// listener), header lists passed on as raw arrays (no header objects built), the model name cut from the path
// without a regular expression. bench:gateway holds it against a minimal node:http proxy on the same load.
import { request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { ApiError } from '../runtime/generate/errors.js';
import { pickUpstream, type Acquired, type UpstreamWaiter } from './balance.js';
import type { Outcome, ReadyCondition, Target, Upstream } from './directory.js';

/** A refusal by the key check: 401, 403 or 429, with its reason and, for 429, when to come back. */
export interface Refusal {
  status: number;
  reason: string;
  message: string;
  retryAfterSeconds?: number;
  /** Extra response headers (WWW-Authenticate). */
  headers?: string[];
}

/** Checks the caller of one request for `model`: undefined lets it through. */
export type Authorize = (headers: IncomingHttpHeaders, model: string) => Refusal | undefined;

/** Hears of every exchange, for the gateway's per-model metrics. */
export interface ExchangeStats {
  begin(target: Target): void;
  /** `upstreamSeconds`: from sending to the replica to its last byte; undefined when no replica answered. */
  end(target: Target, status: number, outcome: Outcome, upstreamSeconds: number | undefined): void;
}

export interface ProxyOptions {
  /** The deployment serving a model name. */
  lookup: (model: string) => Target | undefined;
  maxBodyBytes: number;
  /** Longest wait for a replica's answer. */
  upstreamTimeoutMs: number;
  /** Counts requests the gateway is handling, for a graceful stop. */
  inflight: { count: number };
  /** Finds a replica when none is ready now: holds the request, or says why not. */
  waiter: UpstreamWaiter;
  authorize?: Authorize;
  stats?: ExchangeStats;
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

/** Whether a header carries an API key (Authorization, x-api-key): with keys on, the key stays at the gateway. */
function isCredential(name: string): boolean {
  return (name.length === 13 && name.toLowerCase() === 'authorization') || (name.length === 9 && name.toLowerCase() === 'x-api-key');
}

/**
 * Raw headers (name, value, name, value...) without the hop-by-hop ones (and, with `stripKeys`, the API key headers),
 * Content-Length set when given.
 */
function endToEnd(raw: string[], contentLength?: string, stripKeys = false): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (stripKeys && isCredential(name)) continue;
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

/** The 503 for a deployment with no ready replica that is not worth waiting for, saying why (its Ready condition). */
export function noReadyReplica(target: Pick<Target, 'name' | 'readyCondition'>): Acquired & { status: number } {
  const ready = target.readyCondition();
  // Before its first status (just read from the files), a deployment has no Ready condition yet.
  if (!ready || ready.status === 'True') return { status: 503, reason: 'NoReadyReplica', message: `no replica of ${target.name} is ready yet`, retryAfterSeconds: 1 };
  const why = ready.message.startsWith(`${ready.reason}: `) ? ready.message : `${ready.reason}: ${ready.message}`;
  return { status: 503, reason: 'NoReadyReplica', message: `no replica of ${target.name} is ready: ${why}`, retryAfterSeconds: 1, ready };
}

/**
 * The answer to a request that got no replica: the waiter's error, with Retry-After, and for NoReadyReplica the
 * deployment's Ready condition (its reason and message) in the body and the reason in a header, so a client sees
 * ModelLoadFailed and onnxruntime's words rather than only "not ready".
 */
function sendRefusal(res: ServerResponse, r: Refusal & { ready?: ReadyCondition }, shape: ErrorShape): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const fields = errorBody(shape, r.status, r.reason, r.message);
  if (r.ready && shape === 'oip') fields.status = { reason: r.ready.reason, message: r.ready.message };
  const body = JSON.stringify(fields);
  const headers = ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body))];
  if (r.retryAfterSeconds !== undefined) headers.push('Retry-After', String(r.retryAfterSeconds));
  if (r.ready) headers.push(READY_REASON_HEADER, r.ready.reason);
  if (r.headers) headers.push(...r.headers);
  res.writeHead(r.status, headers);
  res.end(body);
}

/** The runtime's reasons for a 503 that another replica would not give: it is loading or draining. */
const NOT_SERVING = new Set(['NotReady', 'ShuttingDown']);

const ignore = (): void => undefined;

export function createProxy(opts: ProxyOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const model = modelOfPath(req.url ?? '');
    const target = model === undefined ? undefined : opts.lookup(model);
    if (!target) {
      req.resume();
      sendError(res, 404, 'ModelNotFound', `model ${JSON.stringify(model ?? '')} is not served here; POST /v2/repository/index lists the models`);
      return;
    }
    const refused = opts.authorize?.(req.headers, target.model);
    if (refused) {
      req.resume();
      sendRefusal(res, refused, 'oip');
      return;
    }
    new Exchange(req, res, target, opts, 'oip').readBody();
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

/** One inference request through the gateway: its body, a replica (at once, or after a hold), then one try, or two when the first replica failed before answering. */
class Exchange {
  /** Known from the path, or (OpenAI's routes) once the body is read. */
  private target: Target | undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  private body: Buffer = Buffer.alloc(0);
  private started = 0;
  private sentAt = 0;
  private upstreamSeconds: number | undefined;
  private metered = false;
  private outcome: Outcome = 'failed';
  private upstream: Upstream | undefined;
  private attempt = 0;
  private up: ClientRequest | undefined;
  /** The current try has ended: answered, or failed and handed on. */
  private attemptDone = true;
  /** A 503 of the current try, read whole to tell a full queue from a replica that stopped serving. */
  private rejection: Buffer[] | undefined;
  private upstreamResponse: IncomingMessage | undefined;
  /** A hold while no replica is ready: cancelled when the client goes away. */
  private held: { cancel(): void } | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    target: Target | undefined,
    private readonly opts: ProxyOptions,
    private readonly shape: ErrorShape,
  ) {
    this.target = target;
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
    if (this.target === undefined && !this.chooseByBody()) return;
    const target = this.target!;
    this.started = performance.now();
    target.observer?.begin();
    this.opts.stats?.begin(target);
    this.metered = true;
    this.upstream = pickUpstream(target);
    if (this.upstream) this.next();
    else this.held = this.opts.waiter.acquire(target, this.onAcquired);
  };

  private readonly onAcquired = (result: Acquired): void => {
    this.held = undefined;
    if ('upstream' in result) {
      this.upstream = result.upstream;
      this.next();
      return;
    }
    this.outcome = result.status === 503 ? 'rejected' : result.status < 500 ? 'client_error' : 'failed';
    sendRefusal(this.res, result, this.shape);
    this.finish();
  };

  /** OpenAI's routes: the deployment serving the body's model; false when the answer is an error, already sent. */
  private chooseByBody(): boolean {
    const named = modelOfBody(this.body);
    if ('error' in named) {
      sendError(this.res, 400, named.reason, named.error, undefined, 'openai', named.reason === 'MissingModel' ? 'model' : null);
      return false;
    }
    this.target = this.opts.lookup(named.model);
    if (this.target === undefined) {
      sendError(this.res, 404, 'ModelNotFound', `The model '${named.model}' does not exist`, undefined, 'openai', 'model');
      return false;
    }
    const refused = this.opts.authorize?.(this.req.headers, this.target.model);
    if (refused) {
      sendRefusal(this.res, refused, 'openai');
      return false;
    }
    return true;
  }

  private readonly onBodyError = (): void => {
    this.res.destroy();
  };

  private readonly onClientClose = (): void => {
    this.opts.inflight.count--;
    if (this.held) {
      this.held.cancel();
      this.held = undefined;
      this.outcome = 'client_error';
    }
    if (!this.attemptDone && !this.res.writableFinished) this.up?.destroy();
    // A client gone mid-answer ends the exchange here, as a client error (a 499 in other proxies' logs); the upstream
    // error that follows finds attemptDone and is not retried.
    if (!this.attemptDone) {
      this.outcome = 'client_error';
      this.settle();
    }
    this.finish();
  };

  /** Sends the body to the current replica. */
  private next(): void {
    const upstream = this.upstream!;
    upstream.inflight++;
    this.attemptDone = false;
    this.sentAt = performance.now();
    const up = request({
      host: upstream.host,
      port: upstream.port,
      method: this.req.method,
      path: this.req.url,
      headers: endToEnd(this.req.rawHeaders, String(this.body.length), this.opts.authorize !== undefined),
      agent: upstream.agent,
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
    this.upstream!.inflight--;
  }

  /** The exchange is over: the meters learn its outcome once. */
  private finish(): void {
    if (!this.metered) return;
    this.metered = false;
    const target = this.target!;
    target.observer?.end(this.outcome, (performance.now() - this.started) / 1000);
    this.opts.stats?.end(target, this.res.headersSent ? this.res.statusCode : 499, this.outcome, this.upstreamSeconds);
  }

  private answered(): void {
    const status = this.res.statusCode;
    this.outcome = status < 400 ? 'success' : status === 503 ? 'rejected' : status < 500 ? 'client_error' : 'failed';
    this.upstreamSeconds = (performance.now() - this.sentAt) / 1000;
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
    const failed = this.upstream!.id;
    this.retryOrGiveUp(() => sendError(this.res, 502, 'ReplicaUnavailable', `replica ${failed} of ${this.target!.name} failed before answering (${err.message}) and no other replica could take the request`, undefined, this.shape));
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
    const tried = this.upstream;
    this.upstream = pickUpstream(this.target!, tried);
    if (this.upstream && this.attempt === 0 && !this.res.destroyed) {
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
