// The generation routes over HTTP, beside the Open Inference Protocol on the same server: OpenAI's
// GET /v1/models, POST /v1/completions and POST /v1/chat/completions (errors in OpenAI's shape), and Triton's generate
// extension, POST /v2/models/{m}[/versions/{v}]/generate and generate_stream (errors in the protocol's shape). Streams
// are server-sent events; a client that goes away stops its sequence at once.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Reservation } from '../admission.js';
import { MODEL_VERSION, lookupModel, outcomeOf, type TransportDeps } from '../core.js';
import { RuntimeError } from '../errors.js';
import { admitBody, decodeContent, readBody } from '../http/body.js';
import { decodeSegment, sendError, sendJson } from '../http/respond.js';
import { startCompletion, type Delta, type Finished, type RunningCompletion } from './completion.js';
import { ApiError, asApiError, asRuntimeError } from './errors.js';
import type { GenerativeModel } from './model.js';
import { chatChunk, chatResponse, completionChunk, completionResponse, modelObject, usageChunk, type ResponseHead } from './openai.js';
import { maxTokensFor, openAiPrompt, promptIds } from './prompt.js';
import { parseChat, parseCompletion, parseGenerate, parseJsonBody, type GenerateBody, type GenerationFields } from './requests.js';

export interface GenerateDeps extends TransportDeps {
  /** Longest pause while a request body arrives, seconds; 0 = none. */
  bodyTimeoutSeconds: number;
}

type RouteKind = 'models' | 'model' | 'completions' | 'chat' | 'generate' | 'generate_stream';

export interface GenerateRoute {
  kind: RouteKind;
  /** The model the path names (GET /v1/models/{id}, Triton's routes). */
  name?: string;
  version?: string;
}

const V1 = /^\/v1\/(?:(models)(?:\/([^/]+))?|(completions)|chat\/(completions))\/?$/;
const GENERATE = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/(generate|generate_stream)$/;

const SSE_HEADERS = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' };

/** The generation route a request's path names, if any. */
export function matchRoute(path: string): GenerateRoute | undefined {
  const v1 = V1.exec(path);
  if (v1) {
    if (v1[1]) return v1[2] === undefined ? { kind: 'models' } : { kind: 'model', name: v1[2] };
    return { kind: v1[3] ? 'completions' : 'chat' };
  }
  const gen = GENERATE.exec(path);
  if (gen) return { kind: gen[3] as RouteKind, name: gen[1], version: gen[2] };
  return undefined;
}

/** OpenAI's routes answer errors in OpenAI's shape; Triton's generate extension in the protocol's. */
const isOpenAi = (kind: RouteKind) => kind !== 'generate' && kind !== 'generate_stream';

/** Writes one server-sent event. */
function sseEvent(res: ServerResponse, data: unknown): void {
  if (!res.destroyed) res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

/** The id and time every response and chunk of one OpenAI request carries. */
function responseHead(chat: boolean, model: string): ResponseHead {
  return { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`, created: Math.floor(Date.now() / 1000), model };
}

/** One chunk of an OpenAI stream: text as it comes (finish null), or the last with the finish reason. */
function openAiChunk(chat: boolean, head: ResponseHead, includeUsage: boolean, text: string, finish: Finished['finishReason'] | null, tokenIds?: number[]): Record<string, unknown> {
  return chat
    ? chatChunk(head, finish ? {} : { content: text }, finish, tokenIds, includeUsage)
    : completionChunk(head, text, finish, tokenIds, includeUsage);
}

/** A started OpenAI request, as its stream needs it. */
interface OpenAiRun {
  chat: boolean;
  g: GenerativeModel;
  ids: number[];
  maxTokens: number;
  f: GenerationFields;
  head: ResponseHead;
}

/** A started Triton generate request. */
interface TritonRun {
  g: GenerativeModel;
  ids: number[];
  maxTokens: number;
  f: GenerateBody;
  head: Record<string, string>;
}

export function createGenerateHandler(deps: GenerateDeps): GenerateHandler {
  return new GenerateHandler(deps);
}

/** The generation routes of one server: each request read, run on the engine, and answered whole or streamed. */
export class GenerateHandler {
  /** Winston builds a record even for a filtered level: decided once, off the per-token path. */
  private readonly debug: boolean;
  private readonly limits: { maxBytes: number; idleMs: number };

  constructor(private readonly deps: GenerateDeps) {
    this.debug = deps.logger.isLevelEnabled('debug');
    this.limits = { maxBytes: deps.maxBodyBytes, idleMs: deps.bodyTimeoutSeconds * 1000 };
  }

  /** The generation route a request's path names, if any. */
  matches(path: string): GenerateRoute | undefined {
    return matchRoute(path);
  }

  async handle(req: IncomingMessage, res: ServerResponse, route: GenerateRoute): Promise<void> {
    const arrived = performance.now();
    const openai = isOpenAi(route.kind);
    const reading = route.kind === 'models' || route.kind === 'model';
    try {
      const method = reading ? 'GET' : 'POST';
      if (req.method !== method) throw new ApiError(405, `${req.method} ${req.url}: use ${method}`, null, 'method_not_allowed');
      if (reading) return this.describe(res, route);
    } catch (err) {
      this.refuse(req, res, err, openai);
      return;
    }
    await this.generate(req, res, route, openai, arrived);
  }

  /** GET /v1/models and GET /v1/models/{id}. */
  private describe(res: ServerResponse, route: GenerateRoute): void {
    const { deps } = this;
    const g = deps.model()?.generation;
    if (route.kind === 'models') {
      return sendJson(res, 200, { object: 'list', data: g ? [modelObject(deps.modelName, g.created, g.engine.limits.maxModelLen)] : [] });
    }
    const name = decodeSegment(route.name!, 'model name');
    if (name !== deps.modelName || !g) throw new ApiError(404, `The model '${name}' does not exist`, 'model', 'model_not_found');
    sendJson(res, 200, modelObject(name, g.created, g.engine.limits.maxModelLen));
  }

  /** A generation request, counted in flight and in the request metrics whatever its outcome. */
  private async generate(req: IncomingMessage, res: ServerResponse, route: GenerateRoute, openai: boolean, arrived: number): Promise<void> {
    const { deps } = this;
    deps.inflight.count++;
    const m = deps.model();
    let status = 200;
    try {
      if (openai) await this.openAi(req, res, route.kind === 'chat', arrived);
      else await this.tritonGenerate(req, res, route, arrived);
    } catch (err) {
      status = this.refuse(req, res, err, openai);
    } finally {
      deps.inflight.count--;
      if (m) {
        m.metrics.requests.inc({ model: m.name, protocol: 'http', outcome: outcomeOf(status) });
        m.metrics.requestSeconds.observe({ model: m.name, protocol: 'http' }, (performance.now() - arrived) / 1000);
      }
    }
  }

  /** Answers a failure in the route's error shape (or ends a stream already under way); returns its status. */
  private refuse(req: IncomingMessage, res: ServerResponse, err: unknown, openai: boolean): number {
    const e = openai ? asApiError(err) : asRuntimeError(err);
    if (e.status === 499) return e.status;
    if (!req.complete) res.setHeader('Connection', 'close');
    if (!res.headersSent) {
      if (e instanceof ApiError) sendJson(res, e.status, e.body(), e.headers);
      else sendError(res, e as RuntimeError);
    } else if (!res.writableEnded) res.end();
    if (e.status >= 500 && e.status !== 503) this.deps.logger.warn('generation failed', { path: req.url, status: e.status, error: e.message });
    else this.deps.logger.debug('generation refused', { path: req.url, status: e.status, error: e.message });
    return e.status;
  }

  /** The body as JSON, read within --max-body-bytes and the in-flight bytes budget. */
  private async readJson(req: IncomingMessage): Promise<unknown> {
    const { deps } = this;
    const reservation = new Reservation(deps.inflightBytes);
    try {
      const declared = admitBody(req, deps.maxBodyBytes, reservation);
      const raw = await readBody(req, this.limits, reservation, declared);
      return parseJsonBody(await decodeContent(raw, req.headers['content-encoding'], deps.maxBodyBytes, reservation));
    } finally {
      reservation.release();
    }
  }

  /** The generative model a request names: 404 for another name, 503 while loading, 400 for a model that does not generate. */
  private generative(name: string, param: string | null): GenerativeModel {
    const { deps } = this;
    if (name !== deps.modelName) throw new ApiError(404, `The model '${name}' does not exist`, param, 'model_not_found');
    const m = deps.model();
    if (!m) throw new RuntimeError('NotReady', `model ${name} is loading`);
    if (!m.generation) throw new ApiError(400, `model ${name} is not a generative model (it is served at /v2/models/${name}/infer)`, param, 'model_not_generative');
    return m.generation;
  }

  /** Runs a completion, cancelled if the client goes away before it ends. */
  private run(res: ServerResponse, g: GenerativeModel, ids: number[], maxTokens: number, f: GenerationFields, arrived: number, onDelta?: (d: Delta) => void): RunningCompletion {
    const running = startCompletion(g, ids, maxTokens, f, arrived, onDelta);
    const onClose = () => running.cancel();
    res.once('close', onClose);
    void running.done.then(() => res.off('close', onClose), () => res.off('close', onClose));
    return running;
  }

  /** POST /v1/completions and /v1/chat/completions. */
  private async openAi(req: IncomingMessage, res: ServerResponse, chat: boolean, arrived: number): Promise<void> {
    const { deps } = this;
    if (deps.state() === 'loading' || !deps.model()) throw new RuntimeError('NotReady', `model ${deps.modelName} is loading`);
    const body = await this.readJson(req);
    const f = chat ? parseChat(body) : parseCompletion(body);
    const g = this.generative(f.model, 'model');
    const { ids, maxTokens } = openAiPrompt(g, f);
    const head = responseHead(chat, f.model);
    if (f.stream) return this.streamOpenAi(req, res, { chat, g, ids, maxTokens, f, head }, arrived);
    const done = await this.run(res, g, ids, maxTokens, f, arrived).done;
    const promptTokenIds = f.returnTokenIds ? ids : undefined;
    sendJson(res, 200, chat ? chatResponse(head, done, promptTokenIds) : completionResponse(head, done, promptTokenIds), this.closeHeader());
    this.answered(req.url, done, arrived);
  }

  /** An OpenAI stream: the assistant's role first (chat), a chunk per delta, the finish reason, the usage, [DONE]. */
  private async streamOpenAi(req: IncomingMessage, res: ServerResponse, r: OpenAiRun, arrived: number): Promise<void> {
    const { chat, head, f } = r;
    const running = this.run(res, r.g, r.ids, r.maxTokens, f, arrived, (d) => sseEvent(res, openAiChunk(chat, head, f.includeUsage, d.text, null, f.returnTokenIds ? d.tokenIds : undefined)));
    res.writeHead(200, { ...SSE_HEADERS, ...this.closeHeader() });
    if (chat) sseEvent(res, chatChunk(head, { role: 'assistant', content: '' }, null, f.returnTokenIds ? [] : undefined, f.includeUsage));
    if (f.returnTokenIds && !chat) sseEvent(res, { ...completionChunk(head, '', null, [], f.includeUsage), prompt_token_ids: r.ids });
    const done = await this.streamed(res, running, (err) => {
      sseEvent(res, asApiError(err).body());
      sseEvent(res, '[DONE]');
    });
    sseEvent(res, openAiChunk(chat, head, f.includeUsage, '', done.finishReason));
    if (f.includeUsage) sseEvent(res, usageChunk(head, chat ? 'chat.completion.chunk' : 'text_completion', done));
    sseEvent(res, '[DONE]');
    this.endStream(res);
    this.answered(req.url, done, arrived);
  }

  /** Triton's generate extension: POST .../generate and .../generate_stream. */
  private async tritonGenerate(req: IncomingMessage, res: ServerResponse, route: GenerateRoute, arrived: number): Promise<void> {
    const name = decodeSegment(route.name!, 'model name');
    const version = route.version === undefined ? undefined : decodeSegment(route.version, 'model version');
    const m = lookupModel(this.deps, name, version);
    if (!m.generation) throw new RuntimeError('InvalidRequest', `model ${m.name} is not a generative model: use /v2/models/${m.name}/infer`);
    const g = m.generation;
    const f = parseGenerate(await this.readJson(req), route.kind === 'generate_stream');
    const ids = promptIds(g, f.textInput, 'text_input');
    const maxTokens = maxTokensFor(g, ids, f.maxTokens, { prompt: 'text_input', maxTokens: 'max_tokens' });
    const head = { model_name: m.name, model_version: MODEL_VERSION, ...(f.id !== undefined ? { id: f.id } : {}) };
    if (f.stream) return this.streamTriton(req, res, { g, ids, maxTokens, f, head }, arrived);
    const done = await this.run(res, g, ids, maxTokens, f, arrived).done;
    const prefix = f.excludeInput ? '' : f.textInput;
    sendJson(res, 200, { ...head, text_output: prefix + done.text, finish_reason: done.finishReason, ...(f.returnTokenIds ? { token_ids: done.tokenIds } : {}) }, this.closeHeader());
    this.answered(req.url, done, arrived);
  }

  /** Triton's generate_stream: the input first unless excluded, an event per delta, then the finish reason. */
  private async streamTriton(req: IncomingMessage, res: ServerResponse, r: TritonRun, arrived: number): Promise<void> {
    const { head, f } = r;
    const running = this.run(res, r.g, r.ids, r.maxTokens, f, arrived, (d) => sseEvent(res, { ...head, text_output: d.text, ...(f.returnTokenIds ? { token_ids: d.tokenIds } : {}) }));
    res.writeHead(200, { ...SSE_HEADERS, ...this.closeHeader() });
    if (!f.excludeInput && f.textInput) sseEvent(res, { ...head, text_output: f.textInput });
    const done = await this.streamed(res, running, (err) => sseEvent(res, { error: asRuntimeError(err).message }));
    sseEvent(res, { ...head, text_output: '', finish_reason: done.finishReason });
    this.endStream(res);
    this.answered(req.url, done, arrived);
  }

  /** A stream's end; a failure is told in the stream (unless the client left), the stream ended, and rethrown. */
  private async streamed(res: ServerResponse, running: RunningCompletion, tell: (err: unknown) => void): Promise<Finished> {
    try {
      return await running.done;
    } catch (err) {
      if ((err as { status?: number }).status !== 499) tell(err);
      this.endStream(res);
      throw err;
    }
  }

  /**
   * Ends a stream. One whose headers went out before a drain began said nothing of closing: its connection is closed
   * once it ends, so the drain does not wait on it.
   */
  private endStream(res: ServerResponse): void {
    // The response lets go of its socket as it finishes: hold on to it here.
    const socket = res.socket;
    if (this.deps.state() !== 'ready' && socket) res.once('finish', () => socket.end());
    res.end();
  }

  /** Once the server drains, each answer tells the client not to send another request on its connection. */
  private closeHeader(): Record<string, string> {
    return this.deps.state() === 'ready' ? {} : { Connection: 'close' };
  }

  private answered(path: string | undefined, done: Finished, arrived: number): void {
    if (this.debug) this.deps.logger.debug('generation', { path, promptTokens: done.promptTokens, completionTokens: done.completionTokens, finishReason: done.finishReason, ms: +(performance.now() - arrived).toFixed(3) });
  }
}
