// The Open Inference Protocol over HTTP/1.1 (KServe v2 REST, with Triton's binary tensor data extension).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzip, inflate } from 'node:zlib';
import { promisify } from 'node:util';
import type { Logger } from '../common/logger.js';
import { encodeBinaryData, encodeJsonData } from './tensors.js';
import { errorBody, RuntimeError } from './errors.js';
import type { RuntimeMetrics, Outcome } from './metrics.js';
import { parseInferRequest, type InferRequest } from './request.js';
import type { Scheduler } from './scheduler.js';
import type { ModelSignature } from './signature.js';
import type { OutputTensor } from './batching.js';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

export const SERVER_NAME = 'modelplane';
export const EXTENSIONS = ['binary_tensor_data'];
export const MODEL_VERSION = '1';

export type ServerState = 'loading' | 'ready' | 'draining';

export interface ServedModel {
  name: string;
  signature: ModelSignature;
  scheduler: Scheduler;
  metrics: RuntimeMetrics;
  maxBatchSize: number;
  /** Model metadata `parameters`: how the model is being served (execution provider, instances, optimised or not). */
  parameters?: Record<string, string | number | boolean>;
}

export interface RuntimeServerDeps {
  version: string;
  maxBodyBytes: number;
  logger: Logger;
  /** The name the model is served under, known before it loads. */
  modelName: string;
  /** Unset until the model is loaded. */
  model: () => ServedModel | undefined;
  state: () => ServerState;
  /** A sample of the live counters for /metrics and draining. */
  inflight: { count: number };
}

type Json = Record<string, unknown>;

function sendJson(res: ServerResponse, status: number, body: Json | string, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, err: RuntimeError): void {
  sendJson(res, err.status, errorBody(err), err.headers);
}

/** Reads the whole body, refusing (413) past the limit without buffering the excess. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new RuntimeError('BodyTooLarge', `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.byteLength;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new RuntimeError('BodyTooLarge', `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

async function decodeContent(body: Buffer, encoding: string | undefined, limit: number): Promise<Buffer> {
  if (!encoding || encoding === 'identity') return body;
  const opts = { maxOutputLength: limit };
  try {
    if (encoding === 'gzip') return await gunzipAsync(body, opts);
    if (encoding === 'deflate') return await inflateAsync(body, opts);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new RuntimeError('BodyTooLarge', `decompressed body exceeds the limit of ${limit} bytes`);
    throw new RuntimeError('InvalidRequest', `Content-Encoding ${encoding}: body does not decompress: ${(err as Error).message}`);
  }
  throw new RuntimeError('UnsupportedEncoding', `Content-Encoding ${encoding} is not supported (use gzip, deflate or none)`);
}

export function modelMetadata(m: ServedModel): Json {
  return {
    name: m.name,
    versions: [MODEL_VERSION],
    platform: 'onnxruntime_onnx',
    inputs: m.signature.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    outputs: m.signature.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    ...(m.parameters ? { parameters: m.parameters } : {}),
  };
}

/** Triton's model configuration, so Triton tools that ask for it (perf_analyzer, clients) work. */
export function modelConfig(m: ServedModel): Json {
  const batching = m.maxBatchSize > 1;
  const dims = (shape: number[]) => (batching ? shape.slice(1) : shape);
  const tensor = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, data_type: `TYPE_${t.datatype === 'BYTES' ? 'STRING' : t.datatype}`, dims: dims(t.shape) });
  return {
    name: m.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: batching ? m.maxBatchSize : 0,
    input: m.signature.inputs.map(tensor),
    output: m.signature.outputs.map(tensor),
    ...(batching ? { dynamic_batching: {} } : {}),
  };
}

/** Builds the response body: the JSON header, then binary chunks for outputs asked for in binary. */
function inferResponse(m: ServedModel, req: InferRequest, outputs: OutputTensor[]): { json: string; chunks: Uint8Array[] } {
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const chunks: Uint8Array[] = [];
  const parts = req.outputs.map((want) => {
    const o = byName.get(want.name)!;
    const datatype = m.signature.outputs.find((s) => s.name === o.name)!.datatype;
    const head = `{"name":${JSON.stringify(o.name)},"datatype":"${datatype}","shape":[${o.shape.join(',')}]`;
    if (want.binary) {
      const bytes = encodeBinaryData(o.data);
      chunks.push(bytes);
      return `${head},"parameters":{"binary_data_size":${bytes.byteLength}}}`;
    }
    return `${head},"data":${encodeJsonData(datatype, o.data)}}`;
  });
  const id = req.id !== undefined ? `,"id":${JSON.stringify(req.id)}` : '';
  return { json: `{"model_name":${JSON.stringify(m.name)},"model_version":"${MODEL_VERSION}"${id},"outputs":[${parts.join(',')}]}`, chunks };
}

function outcomeOf(status: number): Outcome {
  if (status < 400) return 'success';
  if (status === 503) return 'rejected';
  if (status < 500) return 'client_error';
  return 'failed';
}

let requestCounter = 0;

export function createRuntimeHandler(deps: RuntimeServerDeps) {
  const { logger } = deps;
  // Winston builds and pipes a record even for a filtered level: decide once, off the hot path.
  const debug = logger.isLevelEnabled('debug');

  async function infer(req: IncomingMessage, res: ServerResponse, m: ServedModel): Promise<number> {
    const started = performance.now();
    const headerRequestId = req.headers['x-request-id'];
    let requestId = typeof headerRequestId === 'string' ? headerRequestId : `r${++requestCounter}`;
    deps.inflight.count++;
    m.scheduler.arriving++;
    let arriving = true;
    let status = 200;
    try {
      const raw = await readBody(req, deps.maxBodyBytes);
      const body = await decodeContent(raw, req.headers['content-encoding'], deps.maxBodyBytes);
      const headerLength = req.headers['inference-header-content-length'];
      let jsonLength: number | undefined;
      if (headerLength !== undefined) {
        jsonLength = Number(headerLength);
        if (!Number.isInteger(jsonLength)) throw new RuntimeError('BinaryDataMismatch', `Inference-Header-Content-Length: ${JSON.stringify(headerLength)} is not an integer`);
      }
      const parsed = parseInferRequest(body, jsonLength, m.signature);
      if (parsed.id !== undefined) requestId = parsed.id;
      m.scheduler.arriving--;
      arriving = false;
      const outputs = await m.scheduler.submit(parsed);
      const { json, chunks } = inferResponse(m, parsed, outputs);
      const headers: Record<string, string | number> = {};
      if (deps.state() === 'draining') headers.Connection = 'close';
      if (chunks.length === 0) {
        res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
        res.end(json);
      } else {
        const head = Buffer.from(json);
        const total = chunks.reduce((n, c) => n + c.byteLength, head.byteLength);
        res.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': head.byteLength, 'Content-Length': total });
        res.cork();
        res.write(head);
        for (const c of chunks) res.write(c);
        res.end();
      }
      if (debug) logger.debug('inference', { requestId, model: m.name, status, ms: +(performance.now() - started).toFixed(3) });
    } catch (err) {
      const e = err instanceof RuntimeError ? err : new RuntimeError('Internal', `internal error: ${(err as Error).message}`);
      status = e.status;
      if (e.reason === 'BodyTooLarge') res.setHeader('Connection', 'close');
      sendError(res, e);
      logger.log(status >= 500 && status !== 503 ? 'warn' : 'info', 'inference refused', { requestId, model: m.name, status, reason: e.reason, error: e.message });
    } finally {
      if (arriving) m.scheduler.arriving--;
      deps.inflight.count--;
      m.metrics.requests.inc({ model: m.name, protocol: 'http', outcome: outcomeOf(status) });
      m.metrics.requestSeconds.observe({ model: m.name, protocol: 'http' }, (performance.now() - started) / 1000);
    }
    return status;
  }

  async function metrics(res: ServerResponse): Promise<void> {
    const m = deps.model();
    const text = m ? await m.metrics.registry.metrics() : '';
    res.writeHead(200, { 'Content-Type': m?.metrics.registry.contentType ?? 'text/plain; version=0.0.4' });
    res.end(text);
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    try {
      if (path === '/v2/health/live') {
        if (!get) throw new RuntimeError('MethodNotAllowed', `${method} ${path}: use GET`);
        return sendJson(res, 200, { live: true });
      }
      if (path === '/v2/health/ready') {
        if (!get) throw new RuntimeError('MethodNotAllowed', `${method} ${path}: use GET`);
        const state = deps.state();
        if (state === 'ready') return sendJson(res, 200, { ready: true });
        throw new RuntimeError(state === 'draining' ? 'ShuttingDown' : 'NotReady', state === 'draining' ? 'server is shutting down' : 'model is loading');
      }
      if (path === '/metrics') return await metrics(res);
      if (path === '/v2' || path === '/v2/') {
        return sendJson(res, 200, { name: SERVER_NAME, version: deps.version, extensions: EXTENSIONS });
      }
      const match = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer|\/config)?$/.exec(path);
      if (!match) throw new RuntimeError('NotFound', `no route for ${method} ${path}`);
      const [, rawName, version, action] = match;
      const name = decodeURIComponent(rawName);
      if (name !== deps.modelName) {
        if (req.method === 'POST') req.resume();
        throw new RuntimeError('ModelNotFound', `unknown model "${name}"; this server serves "${deps.modelName}"`);
      }
      const m = deps.model();
      if (!m) {
        if (req.method === 'POST') req.resume();
        throw new RuntimeError('NotReady', `model ${name} is loading`);
      }
      if (version !== undefined && decodeURIComponent(version) !== MODEL_VERSION) {
        if (req.method === 'POST') req.resume();
        throw new RuntimeError('VersionNotFound', `model ${name} has no version "${decodeURIComponent(version)}"; it has version ${MODEL_VERSION}`);
      }
      if (action === '/infer') {
        if (method !== 'POST') throw new RuntimeError('MethodNotAllowed', `${method} ${path}: use POST`);
        await infer(req, res, m);
        return;
      }
      if (!get) throw new RuntimeError('MethodNotAllowed', `${method} ${path}: use GET`);
      if (action === '/ready') {
        if (deps.state() === 'ready') return sendJson(res, 200, { name, ready: true });
        throw new RuntimeError('NotReady', `model ${name} is not ready`);
      }
      if (action === '/config') return sendJson(res, 200, modelConfig(m));
      return sendJson(res, 200, modelMetadata(m));
    } catch (err) {
      const e = err instanceof RuntimeError ? err : new RuntimeError('Internal', `internal error: ${(err as Error).message}`);
      if (e.status >= 500 && e.status !== 503) logger.error('request failed', { path, error: e.message });
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
    }
  };
}

export function createRuntimeServer(deps: RuntimeServerDeps): Server {
  const handle = createRuntimeHandler(deps);
  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000, requestTimeout: 0 }, (req, res) => {
    void handle(req, res);
  });
  return server;
}
