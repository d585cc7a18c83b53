// The gateway: one request handler for both homes (`modelplane gateway` in a cluster, `modelplane local` on this
// machine). Inference goes through the proxy (proxy.ts) to a replica, held while a deployment comes up (hold.ts),
// after the key check; the routes about every model (Triton's repository index, OpenAI's model list) answer from
// the Directory; anything else goes to the home's own routes (local mode's dashboard and status) or, in a cluster,
// to the gateway's health and server metadata. The infer path is plain node:http, not express: bench:local and
// bench:gateway measure why.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/logger.js';
import { readIndexRequest } from '../runtime/http/index-request.js';
import { namedRepositoryRefusal } from '../runtime/core.js';
import { asRuntimeError } from '../runtime/errors.js';
import { repositoryIndexOf, serverReady, type Directory, type Target } from './directory.js';
import { createGrpcGateway, type GrpcGateway } from './grpc-proxy.js';
import { HoldQueue, type HoldOptions } from './hold.js';
import { GatewayStats } from './metrics.js';
import { createOpenAiProxy, createProxy, isOpenAiInference, openAiCode, type Authorize, type Refusal } from './proxy.js';

/** The key check: per request (it counts against a rate limit), and a filter for the lists (it does not). */
export interface Gatekeeper {
  authorize: Authorize;
  /** The models the caller may see in a list, or the refusal (no key, an unknown one). */
  visible(headers: IncomingHttpHeaders): ((model: string) => boolean) | Refusal;
  /** Its own metrics (keys loaded, reloads refused). */
  metricsText?(): string;
  close?(): void;
}

export interface GatewayOptions {
  directory: Directory;
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  activationTimeoutMs: number;
  maxHeldRequests: number;
  keys?: Gatekeeper;
  version: string;
  /** Hears of cold starts: the first held request of a deployment at zero, and the wait of the release. */
  onActivation?: HoldOptions['onActivation'];
  /** Routes that are not the gateway's (local mode's dashboard and status); without it, health and server metadata. */
  fallback?: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface Gateway {
  handle(req: IncomingMessage, res: ServerResponse): void;
  readonly hold: HoldQueue;
  readonly stats: GatewayStats;
  /** Requests being answered: a stop waits for them. */
  readonly inflight: { count: number };
  metricsText(): string;
  /**
   * The gRPC path of this gateway, on a port of its own: the same directory, hold queue, key check, counts and
   * in-flight counter as the HTTP path.
   */
  grpc(o: { logger?: Logger; upstreamTimeoutMs?: number }): GrpcGateway;
  /** Held requests answered 503; the lists' connections closed. */
  close(): void;
}

const MODEL_LIST_TIMEOUT_MS = 2000;
const EXTENSIONS = ['binary_tensor_data'];

function sendJson(res: ServerResponse, status: number, value: unknown, headers: string[] = []): void {
  const body = JSON.stringify(value);
  res.writeHead(status, ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body)), ...headers]);
  res.end(body);
}

/**
 * The model object a ready replica of `t` gives on GET /v1/models (a generative model), remembered so that a
 * deployment scaled to zero is still listed; undefined for a model that only answers /v2/models/{m}/infer.
 */
class OpenAiModels {
  private readonly known = new Map<Target, Record<string, unknown>>();

  async of(t: Target): Promise<Record<string, unknown> | undefined> {
    const u = t.upstreams()[0];
    if (!u) return this.known.get(t);
    try {
      const r = await fetch(`http://${u.host.includes(':') ? `[${u.host}]` : u.host}:${u.port}/v1/models`, { signal: AbortSignal.timeout(MODEL_LIST_TIMEOUT_MS) });
      const list = (await r.json()) as { data?: { id?: unknown }[] };
      const model = list.data?.find((m) => m.id === t.model);
      if (model) this.known.set(t, model);
      else this.known.delete(t);
      return model;
    } catch {
      return this.known.get(t);
    }
  }
}

/** The caller's view of the models: all without keys; with keys, those its key may call (or the refusal). */
function visibleTargets(opts: GatewayOptions, headers: IncomingHttpHeaders): Target[] | Refusal {
  const all = opts.directory.list();
  if (!opts.keys) return [...all];
  const filter = opts.keys.visible(headers);
  return typeof filter === 'function' ? all.filter((t) => filter(t.model)) : filter;
}

function refuse(res: ServerResponse, r: Refusal, openai: boolean): void {
  const headers = [...(r.retryAfterSeconds !== undefined ? ['Retry-After', String(r.retryAfterSeconds)] : []), ...(r.headers ?? [])];
  sendJson(res, r.status, openai ? { error: { message: r.message, type: 'invalid_request_error', param: null, code: openAiCode(r.reason) } } : { error: r.message, reason: r.reason }, headers);
}

/** POST /v2/repository/index, GET /v1/models and /v1/models/{id}: every model behind the gateway. Returns false for other routes. */
function listRoutes(opts: GatewayOptions, models: OpenAiModels, req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '').split('?')[0];
  const index = path === '/v2/repository/index';
  const openai = path === '/v1/models' || path.startsWith('/v1/models/');
  if (!index && !openai) return false;
  if (!index || req.method !== 'POST') req.resume();
  const visible = visibleTargets(opts, req.headers);
  if (!Array.isArray(visible)) {
    req.resume();
    refuse(res, visible, openai);
    return true;
  }
  if (index) {
    if (req.method !== 'POST') sendJson(res, 405, { error: 'use POST /v2/repository/index', reason: 'MethodNotAllowed' });
    else void answerIndex(visible, req, res);
    return true;
  }
  const id = path === '/v1/models' ? undefined : decodeURIComponent(path.slice('/v1/models/'.length));
  void Promise.all((id === undefined ? visible : visible.filter((t) => t.model === id)).map((t) => models.of(t))).then((found) => {
    const data = found.filter((m) => m !== undefined);
    if (id === undefined) sendJson(res, 200, { object: 'list', data });
    else if (data[0]) sendJson(res, 200, data[0]);
    else sendJson(res, 404, { error: { message: `The model '${id}' does not exist`, type: 'not_found_error', param: 'model', code: openAiCode('ModelNotFound') } });
  });
  return true;
}

/** Triton's repository index of the models `visible` to the caller, as the request body asks (`ready`: READY ones). */
async function answerIndex(visible: Target[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const ask = await readIndexRequest(req);
    const refusal = namedRepositoryRefusal(ask.repositoryName);
    if (refusal) throw refusal;
    sendJson(res, 200, repositoryIndexOf(visible, ask.readyOnly));
  } catch (err) {
    const e = asRuntimeError(err);
    // A body not read to its end: the connection cannot carry another request.
    if (!req.complete) res.setHeader('Connection', 'close');
    sendJson(res, e.status, { error: e.message, reason: e.reason });
  }
}

/** The cluster gateway's own routes: liveness, the protocol's server readiness, server metadata. */
function ownRoutes(opts: GatewayOptions, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  const path = (req.url ?? '').split('?')[0];
  if (path === '/v2/health/live') res.writeHead(200).end();
  else if (path === '/v2/health/ready') res.writeHead(serverReady(opts.directory.list()) ? 200 : 503).end();
  else if (path === '/v2') sendJson(res, 200, { name: 'modelplane', version: opts.version, extensions: EXTENSIONS });
  else sendJson(res, 404, { error: `no route for ${req.method} ${path}`, reason: 'NotFound' });
}

export function createGateway(opts: GatewayOptions): Gateway {
  const inflight = { count: 0 };
  const hold = new HoldQueue(opts.directory, {
    activationTimeoutMs: opts.activationTimeoutMs,
    maxHeldRequests: opts.maxHeldRequests,
    onActivation: (target, event) => {
      if (event.kind === 'released') stats.coldStart(target, event.waitedMs / 1000);
      opts.onActivation?.(target, event);
    },
  });
  const stats = new GatewayStats((t) => hold.heldFor(t));
  const proxyOptions = {
    lookup: (m: string) => opts.directory.lookup(m),
    maxBodyBytes: opts.maxBodyBytes,
    upstreamTimeoutMs: opts.upstreamTimeoutMs,
    inflight,
    waiter: hold,
    stats,
    ...(opts.keys ? { authorize: opts.keys.authorize } : {}),
  };
  const proxy = createProxy(proxyOptions);
  const openAiProxy = createOpenAiProxy(proxyOptions);
  const models = new OpenAiModels();
  const rest = (req: IncomingMessage, res: ServerResponse) => {
    inflight.count++;
    res.once('close', () => inflight.count--);
    if (listRoutes(opts, models, req, res)) return;
    if (opts.fallback) opts.fallback(req, res);
    else ownRoutes(opts, req, res);
  };
  return {
    handle: (req, res) => {
      const url = req.url ?? '';
      if (url.startsWith('/v2/models/')) proxy(req, res);
      else if (isOpenAiInference(url)) openAiProxy(req, res);
      else rest(req, res);
    },
    hold,
    stats,
    inflight,
    metricsText: () => stats.text(opts.directory.list()) + (opts.keys?.metricsText?.() ?? ''),
    grpc: (o) => createGrpcGateway({
      directory: opts.directory, waiter: hold, ...(opts.keys ? { authorize: opts.keys.authorize, visible: opts.keys.visible } : {}), maxMessageBytes: opts.maxBodyBytes,
      version: opts.version, stats, inflight, ...o,
    }),
    close: () => {
      hold.close();
      opts.keys?.close?.();
    },
  };
}
