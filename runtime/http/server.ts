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
export function createInferHandler(deps: RuntimeServerDeps) {
  const { logger, statistics } = deps;
  // Winston builds and pipes a record even for a filtered level: decide once, off the hot path.
  const debug = logger.isLevelEnabled('debug');
  const budget = deps.inflightBytes;
  const limits = { maxBytes: deps.maxBodyBytes, idleMs: deps.bodyTimeoutSeconds * 1000 };
  let codec: Codec | undefined;

  /**
   * Reads and parses a request body. A long JSON body goes to the codec worker as it arrives, so the main thread
   * never holds all of it; any other body is read here, then parsed here or on the worker.
   */
  async function receiveRequest(req: IncomingMessage, codec: Codec, reservation: Reservation, jsonLength: number | undefined): Promise<{ parsed: InferRequest; bodyRead: number }> {
    const encoding = req.headers['content-encoding'];
    const declared = admitBody(req, deps.maxBodyBytes, reservation);
    if (declared !== undefined && (!encoding || encoding === 'identity') && codec.offloads(declared, jsonLength)) {
      const incoming = codec.open(declared, jsonLength ?? 0);
      try {
        await receiveBody(req, limits, reservation, declared, (piece) => incoming.append(piece));
      } catch (err) {
        incoming.discard();
        throw err;
      }
      return { bodyRead: performance.now(), parsed: await incoming.parse(jsonLength) };
    }
    const raw = await readBody(req, limits, reservation, declared, jsonLength);
    const body = await decodeContent(raw, encoding, deps.maxBodyBytes, reservation);
    const bodyRead = performance.now();
    return { bodyRead, parsed: await codec.parse(body, jsonLength, body === raw && isExclusiveBody(body)) };
  }

  async function infer(req: IncomingMessage, res: ServerResponse, m: ServedModel): Promise<number> {
    const started = performance.now();
    const headerRequestId = req.headers['x-request-id'];
    let requestId = typeof headerRequestId === 'string' ? headerRequestId : `r${++requestCounter}`;
    deps.inflight.count++;
    m.scheduler.arriving++;
    let arriving = true;
    let status = 200;
    const reservation = new Reservation(budget);
    try {
      codec ??= new Codec(m.signature);
      const headerLength = req.headers['inference-header-content-length'];
      let jsonLength: number | undefined;
      if (headerLength !== undefined) {
        jsonLength = Number(headerLength);
        if (headerLength === '' || !Number.isInteger(jsonLength)) throw new RuntimeError('BinaryDataMismatch', `Inference-Header-Content-Length: ${JSON.stringify(headerLength)} is not an integer`);
        if (jsonLength < 0) throw new RuntimeError('BinaryDataMismatch', `Inference-Header-Content-Length: ${jsonLength} is negative; it is the byte length of the JSON before the binary data`);
      }
      const { parsed, bodyRead } = await receiveRequest(req, codec, reservation, jsonLength);
      const decoded = performance.now();
      if (parsed.id !== undefined) requestId = parsed.id;
      m.scheduler.arriving--;
      arriving = false;
      const outputs = await m.scheduler.submit(parsed);
      const computed = performance.now();
      // The body and its tensors are gone: a client slow to read its answer holds none of the in-flight budget.
      reservation.release();
      const { head, chunks } = await inferResponse(m, codec, parsed, outputs);
      const headers: Record<string, string | number> = {};
      if (deps.state() !== 'ready') headers.Connection = 'close';
      try {
        if (chunks.length === 0 && head.length === 1) {
          const json = head[0] as string;
          res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
          res.end(json);
        } else {
          const headBytes = head.map((p) => (typeof p === 'string' ? Buffer.from(p) : p));
          const headLength = headBytes.reduce((n, c) => n + c.byteLength, 0);
          const total = chunks.reduce((n, c) => n + c.byteLength, headLength);
          res.writeHead(200, chunks.length === 0
            ? { ...headers, 'Content-Type': 'application/json', 'Content-Length': total }
            : { ...headers, 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': headLength, 'Content-Length': total });
          if (headBytes.some((p) => p instanceof HeldText)) await writeInPieces(res, [...headBytes, ...chunks]);
          else {
            res.cork();
            for (const c of headBytes as Uint8Array[]) res.write(c);
            for (const c of chunks) res.write(c);
            res.end();
          }
        }
      } finally {
        dropHeld(head);
      }
      const answered = performance.now();
      statistics.answered(parsed, { arrived: started, decodeStarted: bodyRead, decoded, computed, answered }, m.maxBatchSize > 1);
      if (debug) logger.debug('inference', { requestId, model: m.name, status, ms: +(answered - started).toFixed(3) });
    } catch (err) {
      const e = asRuntimeError(err);
      status = e.status;
      statistics.failed((performance.now() - started) / 1000);
      // The rest of an unread body is not worth reading: answer and close.
      if (e.reason === 'BodyTooLarge' || e.reason === 'RequestTimeout' || e.reason === 'InflightBytesExceeded' || !req.complete) res.setHeader('Connection', 'close');
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
      logger.log(status >= 500 && status !== 503 ? 'warn' : 'info', 'inference refused', { requestId, model: m.name, status, reason: e.reason, error: e.message });
    } finally {
      reservation.release();
      if (arriving) m.scheduler.arriving--;
      deps.inflight.count--;
      m.metrics.requests.inc({ model: m.name, protocol: 'http', outcome: outcomeOf(status) });
      m.metrics.requestSeconds.observe({ model: m.name, protocol: 'http' }, (performance.now() - started) / 1000);
    }
    return status;
  }

  return {
    /** Whether this request is an inference request (then `handle` answers it). */
    matches(method: string | undefined, path: string): RegExpExecArray | null {
      return method === 'POST' ? INFER_PATH.exec(path) : null;
    },
    async handle(req: IncomingMessage, res: ServerResponse, match: RegExpExecArray): Promise<void> {
      try {
        const name = decodeSegment(match[1], 'model name');
        const version = match[2] === undefined ? undefined : decodeSegment(match[2], 'model version');
        const m = lookupModel(deps, name, version);
        await infer(req, res, m);
      } catch (err) {
        const e = asRuntimeError(err);
        if (e.status >= 500 && e.status !== 503) logger.error('request failed', { path: req.url, error: e.message });
        // The body was not read: close rather than read it to find the next request.
        res.setHeader('Connection', 'close');
        if (!res.headersSent) sendError(res, e);
        else res.destroy();
      }
    },
    close(): void {
      void codec?.close();
    },
    heldBytes(): number {
      return codec?.heldBytes ?? 0;
    },
  };
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
