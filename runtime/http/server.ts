// The Open Inference Protocol over HTTP/1.1 (KServe v2 REST, with Triton's binary tensor data extension), a thin
// transport over the protocol core (../core.ts). One node:http server: inference requests go straight to a dedicated
// handler; everything else (health, metadata, configuration, statistics, metrics) is an express app (control.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { encodeBinaryData } from '../tensors.js';
import { asRuntimeError, RuntimeError } from '../errors.js';
import type { InferRequest } from '../request.js';
import type { OutputTensor } from '../batching.js';
import { Codec, HeldText } from './codec.js';
import { admitBody, decodeContent, isExclusiveBody, readBody, receiveBody } from './body.js';
import { Reservation } from '../admission.js';
import { createControlApp } from './control.js';
import { MODEL_VERSION, lookupModel, outcomeOf, type ServedModel, type TransportDeps } from '../core.js';
import { decodeSegment, sendError } from './respond.js';
import { createGenerateHandler } from '../generate/http.js';

/** The HTTP transport's own limits besides what every transport gets. */
export interface RuntimeServerDeps extends TransportDeps {
  /** Longest pause while a request body arrives, seconds; 0 = none. */
  bodyTimeoutSeconds: number;
  /** Longest time to receive a request's headers, seconds. */
  headersTimeoutSeconds: number;
  /** Longest time to receive a whole request (headers and body), seconds; 0 = none. */
  requestTimeoutSeconds: number;
}

type HeadPart = string | Uint8Array | HeldText;

/** Forgets the encoded texts the codec worker still holds for a response that will not be written in full. */
function dropHeld(parts: readonly HeadPart[]): void {
  for (const p of parts) if (p instanceof HeldText) p.drop();
}

/**
 * The response: the JSON header (pieces of text, encoded bytes, and long encoded texts the codec worker holds),
 * then binary chunks for outputs asked for in binary.
 */
async function inferResponse(m: ServedModel, codec: Codec, req: InferRequest, outputs: OutputTensor[]): Promise<{ head: HeadPart[]; chunks: Uint8Array[] }> {
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const chunks: Uint8Array[] = [];
  const id = req.id !== undefined ? `,"id":${JSON.stringify(req.id)}` : '';
  const head: HeadPart[] = [`{"model_name":${JSON.stringify(m.name)},"model_version":"${MODEL_VERSION}"${id},"outputs":[`];
  try {
    await encodeOutputs(m, codec, req, byName, head, chunks);
  } catch (err) {
    dropHeld(head);
    throw err;
  }
  return { head, chunks };
}

async function encodeOutputs(m: ServedModel, codec: Codec, req: InferRequest, byName: Map<string, OutputTensor>, head: HeadPart[], chunks: Uint8Array[]): Promise<void> {
  let text = head[0] as string;
  for (let i = 0; i < req.outputs.length; i++) {
    const want = req.outputs[i];
    const o = byName.get(want.name)!;
    const datatype = m.signature.outputs.find((s) => s.name === o.name)!.datatype;
    text += `${i > 0 ? ',' : ''}{"name":${JSON.stringify(o.name)},"datatype":"${datatype}","shape":[${o.shape.join(',')}]`;
    if (want.binary) {
      const bytes = encodeBinaryData(o.data);
      chunks.push(bytes);
      text += `,"parameters":{"binary_data_size":${bytes.byteLength}}}`;
      continue;
    }
    const data = await codec.encodeJson(datatype, o.data);
    if (typeof data === 'string') {
      text += `,"data":${data}}`;
    } else {
      head[head.length - 1] = `${text},"data":`;
      head.push(data);
      text = '}';
      head.push(text);
    }
  }
  head[head.length - 1] = `${text}]}`;
}

/** Resolves when the response can take more data; rejects if the client goes away first. */
function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error('the client closed the connection'));
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new Error('the client closed the connection'));
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/** Writes the parts in order, a held text a piece at a time as the socket takes it, then ends the response. */
async function writeInPieces(res: ServerResponse, parts: readonly (Uint8Array | HeldText)[]): Promise<void> {
  for (const p of parts) {
    if (p instanceof HeldText) {
      for await (const piece of p.pieces()) if (!res.write(piece)) await drained(res);
    } else if (!res.write(p)) await drained(res);
  }
  res.end();
}

const INFER_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/;

let requestCounter = 0;

/** The dedicated handler for POST .../infer. */
export function createInferHandler(deps: RuntimeServerDeps): InferHandler {
  return new InferHandler(deps);
}

/**
 * The Inference-Header-Content-Length header: the byte length of the JSON before the binary data; undefined when
 * absent (the body is JSON alone).
 */
function jsonHeaderLength(req: IncomingMessage): number | undefined {
  const headerLength = req.headers['inference-header-content-length'];
  if (headerLength === undefined) return undefined;
  const jsonLength = Number(headerLength);
  if (headerLength === '' || !Number.isInteger(jsonLength)) throw new RuntimeError('BinaryDataMismatch', `Inference-Header-Content-Length: ${JSON.stringify(headerLength)} is not an integer`);
  if (jsonLength < 0) throw new RuntimeError('BinaryDataMismatch', `Inference-Header-Content-Length: ${jsonLength} is negative; it is the byte length of the JSON before the binary data`);
  return jsonLength;
}

/**
 * Writes a whole answer: a JSON-only answer in one piece, else the head's bytes and the binary chunks. Returns a
 * promise only when held texts go out a piece at a time; a caller awaits nothing otherwise.
 */
function writeAnswer(res: ServerResponse, head: HeadPart[], chunks: Uint8Array[], closeAfter: boolean): Promise<void> | undefined {
  const headers: Record<string, string | number> = {};
  if (closeAfter) headers.Connection = 'close';
  if (chunks.length === 0 && head.length === 1) {
    const json = head[0] as string;
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
    res.end(json);
    return undefined;
  }
  const headBytes = head.map((p) => (typeof p === 'string' ? Buffer.from(p) : p));
  const headLength = headBytes.reduce((n, c) => n + c.byteLength, 0);
  const total = chunks.reduce((n, c) => n + c.byteLength, headLength);
  res.writeHead(200, chunks.length === 0
    ? { ...headers, 'Content-Type': 'application/json', 'Content-Length': total }
    : { ...headers, 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': headLength, 'Content-Length': total });
  if (headBytes.some((p) => p instanceof HeldText)) return writeInPieces(res, [...headBytes, ...chunks]);
  res.cork();
  for (const c of headBytes as Uint8Array[]) res.write(c);
  for (const c of chunks) res.write(c);
  res.end();
  return undefined;
}

/** Answers inference requests: reads, schedules, encodes and writes each one, and counts how it ended. */
class InferHandler {
  private readonly logger: RuntimeServerDeps['logger'];
  private readonly statistics: RuntimeServerDeps['statistics'];
  // Winston builds and pipes a record even for a filtered level: decide once, off the hot path.
  private readonly debug: boolean;
  private readonly budget: RuntimeServerDeps['inflightBytes'];
  private readonly limits: { maxBytes: number; idleMs: number };
  /** Started with the first request, which knows the model's signature. */
  private codec: Codec | undefined;

  constructor(private readonly deps: RuntimeServerDeps) {
    this.logger = deps.logger;
    this.statistics = deps.statistics;
    this.debug = deps.logger.isLevelEnabled('debug');
    this.budget = deps.inflightBytes;
    this.limits = { maxBytes: deps.maxBodyBytes, idleMs: deps.bodyTimeoutSeconds * 1000 };
  }

  /** Whether this request is an inference request (then `handle` answers it). */
  matches(method: string | undefined, path: string): RegExpExecArray | null {
    return method === 'POST' ? INFER_PATH.exec(path) : null;
  }

  async handle(req: IncomingMessage, res: ServerResponse, match: RegExpExecArray): Promise<void> {
    try {
      const name = decodeSegment(match[1], 'model name');
      const version = match[2] === undefined ? undefined : decodeSegment(match[2], 'model version');
      const m = lookupModel(this.deps, name, version);
      await this.infer(req, res, m);
    } catch (err) {
      const e = asRuntimeError(err);
      if (e.status >= 500 && e.status !== 503) this.logger.error('request failed', { path: req.url, error: e.message });
      // The body was not read: close rather than read it to find the next request.
      res.setHeader('Connection', 'close');
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
    }
  }

  close(): void {
    void this.codec?.close();
  }

  heldBytes(): number {
    return this.codec?.heldBytes ?? 0;
  }

  /** One request from its arrival to its answer (or refusal); resolves with the HTTP status. */
  private async infer(req: IncomingMessage, res: ServerResponse, m: ServedModel): Promise<number> {
    const started = performance.now();
    const headerRequestId = req.headers['x-request-id'];
    let requestId = typeof headerRequestId === 'string' ? headerRequestId : `r${++requestCounter}`;
    this.deps.inflight.count++;
    m.scheduler.arriving++;
    let arriving = true;
    let status = 200;
    const reservation = new Reservation(this.budget);
    try {
      const codec = (this.codec ??= new Codec(m.signature));
      const { parsed, bodyRead } = await this.receiveRequest(req, codec, reservation, jsonHeaderLength(req));
      const decoded = performance.now();
      if (parsed.id !== undefined) requestId = parsed.id;
      m.scheduler.arriving--;
      arriving = false;
      const outputs = await m.scheduler.submit(parsed);
      const computed = performance.now();
      // The body and its tensors are gone: a client slow to read its answer holds none of the in-flight budget.
      reservation.release();
      const { head, chunks } = await inferResponse(m, codec, parsed, outputs);
      try {
        const writing = writeAnswer(res, head, chunks, this.deps.state() !== 'ready');
        if (writing) await writing;
      } finally {
        dropHeld(head);
      }
      const answered = performance.now();
      this.statistics.answered(parsed, { arrived: started, decodeStarted: bodyRead, decoded, computed, answered }, m.maxBatchSize > 1);
      if (this.debug) this.logger.debug('inference', { requestId, model: m.name, status, ms: +(answered - started).toFixed(3) });
    } catch (err) {
      const e = asRuntimeError(err);
      status = e.status;
      this.refuse(req, res, m, e, started, requestId);
    } finally {
      reservation.release();
      if (arriving) m.scheduler.arriving--;
      this.deps.inflight.count--;
      m.metrics.requests.inc({ model: m.name, protocol: 'http', outcome: outcomeOf(status) });
      m.metrics.requestSeconds.observe({ model: m.name, protocol: 'http' }, (performance.now() - started) / 1000);
    }
    return status;
  }

  /**
   * Reads and parses a request body. A long JSON body goes to the codec worker as it arrives, so the main thread
   * never holds all of it; any other body is read here, then parsed here or on the worker.
   */
  private async receiveRequest(req: IncomingMessage, codec: Codec, reservation: Reservation, jsonLength: number | undefined): Promise<{ parsed: InferRequest; bodyRead: number }> {
    const encoding = req.headers['content-encoding'];
    const declared = admitBody(req, this.deps.maxBodyBytes, reservation);
    if (declared !== undefined && (!encoding || encoding === 'identity') && codec.offloads(declared, jsonLength)) {
      const incoming = codec.open(declared, jsonLength ?? 0);
      try {
        await receiveBody(req, this.limits, reservation, declared, (piece) => incoming.append(piece));
      } catch (err) {
        incoming.discard();
        throw err;
      }
      return { bodyRead: performance.now(), parsed: await incoming.parse(jsonLength) };
    }
    const raw = await readBody(req, this.limits, reservation, declared, jsonLength);
    const body = await decodeContent(raw, encoding, this.deps.maxBodyBytes, reservation);
    const bodyRead = performance.now();
    return { bodyRead, parsed: await codec.parse(body, jsonLength, body === raw && isExclusiveBody(body)) };
  }

  /** The error's answer, or a cut connection when the answer had begun; logged as refused. */
  private refuse(req: IncomingMessage, res: ServerResponse, m: ServedModel, e: RuntimeError, started: number, requestId: string): void {
    this.statistics.failed((performance.now() - started) / 1000);
    // The rest of an unread body is not worth reading: answer and close.
    if (e.reason === 'BodyTooLarge' || e.reason === 'RequestTimeout' || e.reason === 'InflightBytesExceeded' || !req.complete) res.setHeader('Connection', 'close');
    if (!res.headersSent) sendError(res, e);
    else res.destroy();
    this.logger.log(e.status >= 500 && e.status !== 503 ? 'warn' : 'info', 'inference refused', { requestId, model: m.name, status: e.status, reason: e.reason, error: e.message });
  }
}

export interface RuntimeServer extends Server {
  /** Stops the codec worker. */
  closeCodec(): void;
  /** Bytes the codec worker holds for long JSON bodies still arriving and long JSON answers still being written. */
  codecHeldBytes(): number;
}

export function createRuntimeServer(deps: RuntimeServerDeps): RuntimeServer {
  const inference = createInferHandler(deps);
  const generation = createGenerateHandler(deps);
  const control = createControlApp(deps);
  const requestTimeout = deps.requestTimeoutSeconds * 1000;
  const headersTimeout = requestTimeout > 0 ? Math.min(deps.headersTimeoutSeconds * 1000, requestTimeout) : deps.headersTimeoutSeconds * 1000;
  const server = createServer({
    keepAliveTimeout: 65_000,
    headersTimeout,
    requestTimeout,
    // How often node checks the two timeouts above (its default, 30 s, would stretch a short timeout).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, headersTimeout / 4)),
  }, (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const match = inference.matches(req.method, path);
    // OpenAI's /v1 routes and Triton's generate extension (runtime/generate/http.ts).
    const generate = match ? undefined : generation.matches(path);
    if (match) void inference.handle(req, res, match);
    else if (generate) void generation.handle(req, res, generate);
    else {
      // Once the listener has closed, no connection should stay open for another request (probes, scrapes).
      if (deps.state() === 'closed') res.setHeader('Connection', 'close');
      control(req, res);
    }
  }) as RuntimeServer;
  server.closeCodec = () => inference.close();
  server.codecHeldBytes = () => inference.heldBytes();
  return server;
}
