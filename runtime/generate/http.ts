// The generation routes over HTTP, beside the Open Inference Protocol on the same server: OpenAI's
// GET /v1/models, POST /v1/completions and POST /v1/chat/completions (errors in OpenAI's shape), and Triton's generate
// extension, POST /v2/models/{m}[/versions/{v}]/generate and generate_stream (errors in the protocol's shape). Streams
// are server-sent events; a client that goes away stops its sequence at once.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Reservation } from '../admission.js';
import { MODEL_VERSION, checkModelName, lookupModel, outcomeOf, type ServedModel, type TransportDeps } from '../core.js';
import { RuntimeError } from '../errors.js';
import { admitBody, decodeContent, readBody } from '../http/body.js';
import { decodeSegment, sendError, sendJson } from '../http/respond.js';
import { startCompletion, type Delta, type Finished, type RunningCompletion } from './completion.js';
import { ApiError, asApiError, asRuntimeError, badField } from './errors.js';
import type { GenerativeModel } from './model.js';
import { chatChunk, chatResponse, completionChunk, completionResponse, modelObject, usageChunk, type ResponseHead } from './openai.js';
import { parseChat, parseCompletion, parseGenerate, type GenerationFields } from './requests.js';
import { ChatTemplateError } from './tokenizer.js';

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

/** Completions default to 16 tokens, as OpenAI's do. */
const DEFAULT_MAX_TOKENS = 16;

const SSE_HEADERS = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' };

export function createGenerateHandler(deps: GenerateDeps) {
  const { logger } = deps;
  // Winston builds a record even for a filtered level: decide once, off the per-token path.
  const debug = logger.isLevelEnabled('debug');
  const answered = (path: string | undefined, done: Finished, arrived: number) => {
    if (debug) logger.debug('generation', { path, promptTokens: done.promptTokens, completionTokens: done.completionTokens, finishReason: done.finishReason, ms: +(performance.now() - arrived).toFixed(3) });
  };
  const limits = { maxBytes: deps.maxBodyBytes, idleMs: deps.bodyTimeoutSeconds * 1000 };

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const reservation = new Reservation(deps.inflightBytes);
    try {
      const declared = admitBody(req, deps.maxBodyBytes, reservation);
      const raw = await readBody(req, limits, reservation, declared);
      const body = await decodeContent(raw, req.headers['content-encoding'], deps.maxBodyBytes, reservation);
      try {
        return JSON.parse(body.toString('utf8'));
      } catch (err) {
        throw new ApiError(400, `the request body is not valid JSON: ${(err as Error).message}`, null, 'invalid_json');
      }
    } finally {
      reservation.release();
    }
  }

  /** The generative model a request names: 404 for another name, 503 while loading, 400 for a model that does not generate. */
  function generative(name: string, param: string | null): { m: ServedModel; g: GenerativeModel } {
    if (name !== deps.modelName) throw new ApiError(404, `The model '${name}' does not exist`, param, 'model_not_found');
    const m = deps.model();
    if (!m) throw new RuntimeError('NotReady', `model ${name} is loading`);
    if (!m.generation) throw new ApiError(400, `model ${name} is not a generative model (it is served at /v2/models/${name}/infer)`, param, 'model_not_generative');
    return { m, g: m.generation };
  }

  /** Token ids of a completion prompt: text through the tokenizer, or ids checked against the vocabulary. */
  function promptIds(g: GenerativeModel, prompt: string | number[], param: string): number[] {
    let ids: number[];
    if (typeof prompt === 'string') ids = g.tokenizer.encode(prompt, true);
    else {
      const V = g.engine.layout.vocabSize;
      const bad = prompt.find((t) => t >= V);
      if (bad !== undefined) throw badField(param, `token id ${bad} is outside the vocabulary (0 to ${V - 1})`);
      ids = prompt;
    }
    if (ids.length === 0) throw badField(param, 'is empty: it must hold at least one token');
    return ids;
  }

  /** max_tokens as asked or by default, refused (400 naming the field) when the sequence could never run. */
  function maxTokensFor(g: GenerativeModel, ids: number[], asked: number | undefined, fields: { prompt: string; maxTokens: string }): number {
    const maxTokens = asked ?? Math.max(1, Math.min(DEFAULT_MAX_TOKENS, g.engine.limits.maxModelLen - ids.length));
    const problem = g.engine.tooLarge(ids.length, maxTokens);
    if (problem) throw new ApiError(400, problem.message, problem.field === 'prompt' ? fields.prompt : fields.maxTokens, 'context_length_exceeded');
    return maxTokens;
  }

  /**
   * Ends a stream. One whose headers went out before a drain began said nothing of closing: its connection is closed
   * once it ends, so the drain does not wait on it.
   */
  const endStream = (res: ServerResponse) => {
    // The response lets go of its socket as it finishes: hold on to it here.
    const socket = res.socket;
    if (deps.state() !== 'ready' && socket) res.once('finish', () => socket.end());
    res.end();
  };

  /** Writes one server-sent event. */
  const event = (res: ServerResponse, data: unknown) => {
    if (!res.destroyed) res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  };

  /** Runs a completion, cancelled if the client goes away before it ends. */
  function run(res: ServerResponse, g: GenerativeModel, ids: number[], maxTokens: number, f: GenerationFields, arrived: number, onDelta?: (d: Delta) => void): RunningCompletion {
    const running = startCompletion(g, ids, maxTokens, f, arrived, onDelta);
    const onClose = () => running.cancel();
    res.once('close', onClose);
    void running.done.then(() => res.off('close', onClose), () => res.off('close', onClose));
    return running;
  }

  /** POST /v1/completions and /v1/chat/completions. */
  async function openAi(req: IncomingMessage, res: ServerResponse, chat: boolean, arrived: number): Promise<void> {
    const body = await readJson(req);
    const f = chat ? parseChat(body) : parseCompletion(body);
    const { g } = generative(f.model, 'model');
    let ids: number[];
    let maxKey = 'max_tokens';
    if ('messages' in f) {
      if ((body as Record<string, unknown>).max_completion_tokens != null) maxKey = 'max_completion_tokens';
      let text: string;
      try {
        text = g.tokenizer.applyChatTemplate(f.messages);
      } catch (err) {
        if (err instanceof ChatTemplateError) throw new ApiError(400, `messages: ${err.message}`, 'messages', 'chat_template_error');
        throw err;
      }
      ids = g.tokenizer.encode(text, false);
      if (ids.length === 0) throw badField('messages', 'the chat template made an empty prompt');
    } else ids = promptIds(g, f.prompt, 'prompt');
    // A chat completion may run to the end of the context (or of the KV-cache budget), as OpenAI's does; a completion
    // stops at 16 tokens.
    const asked = f.maxTokens ?? (chat ? Math.max(1, g.engine.mostTokens(ids.length)) : undefined);
    const maxTokens = maxTokensFor(g, ids, asked, { prompt: chat ? 'messages' : 'prompt', maxTokens: maxKey });
    const head: ResponseHead = { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`, created: Math.floor(Date.now() / 1000), model: f.model };
    const promptTokenIds = f.returnTokenIds ? ids : undefined;
    if (!f.stream) {
      const done = await run(res, g, ids, maxTokens, f, arrived).done;
      sendJson(res, 200, chat ? chatResponse(head, done, promptTokenIds) : completionResponse(head, done, promptTokenIds), closeHeader());
      answered(req.url, done, arrived);
      return;
    }
    const chunk = (text: string, finish: Finished['finishReason'] | null, tokenIds?: number[]) => (chat
      ? chatChunk(head, finish ? {} : { content: text }, finish, tokenIds, f.includeUsage)
      : completionChunk(head, text, finish, tokenIds, f.includeUsage));
    const running = run(res, g, ids, maxTokens, f, arrived, (d) => event(res, chunk(d.text, null, f.returnTokenIds ? d.tokenIds : undefined)));
    res.writeHead(200, { ...SSE_HEADERS, ...closeHeader() });
    if (chat) event(res, chatChunk(head, { role: 'assistant', content: '' }, null, f.returnTokenIds ? [] : undefined, f.includeUsage));
    if (f.returnTokenIds && !chat) event(res, { ...completionChunk(head, '', null, [], f.includeUsage), prompt_token_ids: ids });
    let done: Finished;
    try {
      done = await running.done;
    } catch (err) {
      const e = asApiError(err);
      if (e.status !== 499) {
        event(res, e.body());
        event(res, '[DONE]');
      }
      endStream(res);
      throw e;
    }
    event(res, chunk('', done.finishReason));
    if (f.includeUsage) event(res, usageChunk(head, chat ? 'chat.completion.chunk' : 'text_completion', done));
    event(res, '[DONE]');
    endStream(res);
    answered(req.url, done, arrived);
  }

  /** Triton's generate extension: POST .../generate and .../generate_stream. */
  async function tritonGenerate(req: IncomingMessage, res: ServerResponse, m: ServedModel, streaming: boolean, arrived: number): Promise<void> {
    if (!m.generation) throw new RuntimeError('InvalidRequest', `model ${m.name} is not a generative model: use /v2/models/${m.name}/infer`);
    const g = m.generation;
    const f = parseGenerate(await readJson(req), streaming);
    const ids = promptIds(g, f.textInput, 'text_input');
    const maxTokens = maxTokensFor(g, ids, f.maxTokens, { prompt: 'text_input', maxTokens: 'max_tokens' });
    const head = { model_name: m.name, model_version: MODEL_VERSION, ...(f.id !== undefined ? { id: f.id } : {}) };
    const prefix = f.excludeInput ? '' : f.textInput;
    if (!streaming) {
      const done = await run(res, g, ids, maxTokens, f, arrived).done;
      sendJson(res, 200, { ...head, text_output: prefix + done.text, finish_reason: done.finishReason, ...(f.returnTokenIds ? { token_ids: done.tokenIds } : {}) }, closeHeader());
      answered(req.url, done, arrived);
      return;
    }
    const running = run(res, g, ids, maxTokens, f, arrived, (d) => event(res, { ...head, text_output: d.text, ...(f.returnTokenIds ? { token_ids: d.tokenIds } : {}) }));
    res.writeHead(200, { ...SSE_HEADERS, ...closeHeader() });
    if (prefix) event(res, { ...head, text_output: prefix });
    let done: Finished;
    try {
      done = await running.done;
    } catch (err) {
      const e = asRuntimeError(err);
      if ((err as ApiError).status !== 499) event(res, { error: e.message });
      endStream(res);
      throw err;
    }
    event(res, { ...head, text_output: '', finish_reason: done.finishReason });
    endStream(res);
    answered(req.url, done, arrived);
  }

  /** Once the server drains, each answer tells the client not to send another request on its connection. */
  const closeHeader = (): Record<string, string> => (deps.state() === 'ready' ? {} : { Connection: 'close' });

  function listModels(res: ServerResponse): void {
    const g = deps.model()?.generation;
    sendJson(res, 200, { object: 'list', data: g ? [modelObject(deps.modelName, g.created, g.engine.limits.maxModelLen)] : [] });
  }

  return {
    /** The generation route a request's method and path name, if any. */
    matches(path: string): GenerateRoute | undefined {
      const v1 = V1.exec(path);
      if (v1) {
        if (v1[1]) return v1[2] === undefined ? { kind: 'models' } : { kind: 'model', name: v1[2] };
        return { kind: v1[3] ? 'completions' : 'chat' };
      }
      const gen = GENERATE.exec(path);
      if (gen) return { kind: gen[3] as RouteKind, name: gen[1], version: gen[2] };
      return undefined;
    },

    async handle(req: IncomingMessage, res: ServerResponse, route: GenerateRoute): Promise<void> {
      const arrived = performance.now();
      const openai = route.kind !== 'generate' && route.kind !== 'generate_stream';
      const reading = route.kind === 'models' || route.kind === 'model';
      const method = reading ? 'GET' : 'POST';
      let status = 200;
      let m: ServedModel | undefined;
      let counted = false;
      try {
        if (req.method !== method) throw new ApiError(405, `${req.method} ${req.url}: use ${method}`, null, 'method_not_allowed');
        if (route.kind === 'models') return listModels(res);
        if (route.kind === 'model') {
          const name = decodeSegment(route.name!, 'model name');
          const g = deps.model()?.generation;
          if (name !== deps.modelName || !g) throw new ApiError(404, `The model '${name}' does not exist`, 'model', 'model_not_found');
          return sendJson(res, 200, modelObject(name, g.created, g.engine.limits.maxModelLen));
        }
        deps.inflight.count++;
        counted = true;
        m = deps.model();
        if (openai) {
          if (deps.state() === 'loading' || !m) throw new RuntimeError('NotReady', `model ${deps.modelName} is loading`);
          await openAi(req, res, route.kind === 'chat', arrived);
        } else {
          const name = decodeSegment(route.name!, 'model name');
          const version = route.version === undefined ? undefined : decodeSegment(route.version, 'model version');
          checkModelName(deps, name, version);
          m = lookupModel(deps, name, version);
          await tritonGenerate(req, res, m, route.kind === 'generate_stream', arrived);
        }
      } catch (err) {
        const e = openai ? asApiError(err) : asRuntimeError(err);
        status = e.status;
        if (status === 499) return;
        if (!req.complete) res.setHeader('Connection', 'close');
        if (!res.headersSent) {
          if (e instanceof ApiError) sendJson(res, e.status, e.body(), e.headers);
          else sendError(res, e as RuntimeError);
        } else if (!res.writableEnded) res.end();
        if (status >= 500 && status !== 503) logger.warn('generation failed', { path: req.url, status, error: e.message });
        else logger.debug('generation refused', { path: req.url, status, error: e.message });
      } finally {
        if (counted) {
          deps.inflight.count--;
          if (m) {
            m.metrics.requests.inc({ model: m.name, protocol: 'http', outcome: outcomeOf(status) });
            m.metrics.requestSeconds.observe({ model: m.name, protocol: 'http' }, (performance.now() - arrived) / 1000);
          }
        }
      }
    },
  };
}
