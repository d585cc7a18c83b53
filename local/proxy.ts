// The inference path: every /v2/models/{name}/... request goes to the least-loaded ready replica of the
// ModelDeployment serving {name}, over keep-alive connections. The body is read first (capped), so a request whose
// replica dies before answering can be sent once more to another replica: inference is idempotent.
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { LocalDeployment } from './deployment.js';
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

// Connection-level headers (and Expect, which this hop already answered) stay on their hop; Content-Length is set from the body actually read.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'expect', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'content-length']);

function sendError(res: ServerResponse, status: number, reason: string, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: message, reason });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Raw headers (name, value, name, value...) without the hop-by-hop ones: no header object is built. */
function endToEnd(raw: string[], contentLength?: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!HOP_BY_HOP.has(name) || (name === 'content-length' && contentLength === undefined)) out.push(raw[i], raw[i + 1]);
  }
  if (contentLength !== undefined) out.push('Content-Length', contentLength);
  return out;
}

/** The model name in /v2/models/{name}[/...], URL-decoded; undefined when the path has none. */
export function modelOfPath(url: string): string | undefined {
  const m = /^\/v2\/models\/([^/?#]+)/.exec(url);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve('too-large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve('too-large');
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

type Attempt =
  | { kind: 'answered' }
  | { kind: 'unreachable'; error: string }
  | { kind: 'not-serving'; status: number; headers: string[]; body: Buffer };

/** The runtime's reasons for a 503 that another replica would not give: it is loading or draining. */
const NOT_SERVING = new Set(['NotReady', 'ShuttingDown']);

export function createProxy(opts: ProxyOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const model = modelOfPath(req.url ?? '');
    const dep = model === undefined ? undefined : opts.lookup(model);
    if (!dep) {
      sendError(res, 404, 'ModelNotFound', `model ${JSON.stringify(model ?? '')} is not served here; POST /v2/repository/index lists the models`);
      return;
    }
    opts.inflight.count++;
    res.once('close', () => opts.inflight.count--);
    void handle(req, res, dep, opts);
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, dep: LocalDeployment, opts: ProxyOptions): Promise<void> {
  let body: Buffer | 'too-large';
  try {
    body = await readBody(req, opts.maxBodyBytes);
  } catch {
    res.destroy();
    return;
  }
  if (body === 'too-large') {
    res.setHeader('Connection', 'close');
    sendError(res, 413, 'BodyTooLarge', `request body exceeds the limit of ${opts.maxBodyBytes} bytes`);
    return;
  }
  const meter = dep.meter;
  const started = performance.now();
  meter.begin();
  let outcome: 'success' | 'client_error' | 'rejected' | 'failed' = 'failed';
  try {
    let replica = dep.pick();
    let tried: Replica | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!replica) break;
      const result = await forward(req, res, body, replica, opts.upstreamTimeoutMs);
      if (result.kind === 'answered') {
        const status = res.statusCode;
        outcome = status < 400 ? 'success' : status === 503 ? 'rejected' : status < 500 ? 'client_error' : 'failed';
        return;
      }
      tried = replica;
      replica = dep.pick(tried);
      if (!replica || attempt === 1) {
        if (result.kind === 'not-serving') {
          res.writeHead(result.status, endToEnd(result.headers, String(result.body.length)));
          res.end(result.body);
          outcome = 'rejected';
        } else {
          sendError(res, 502, 'ReplicaUnavailable', `replica ${tried.id} of ${dep.name} failed before answering (${result.error}) and no other replica could take the request`);
        }
        return;
      }
    }
    outcome = 'rejected';
    sendError(res, 503, 'NoReadyReplica', `no replica of ${dep.name} is ready yet`, { 'Retry-After': '1' });
  } finally {
    meter.end(outcome, (performance.now() - started) / 1000);
  }
}

/** One try on one replica. Answers the client unless the replica failed before sending anything. */
function forward(req: IncomingMessage, res: ServerResponse, body: Buffer, replica: Replica, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    replica.inflight++;
    let done = false;
    const finish = (a: Attempt) => {
      if (done) return;
      done = true;
      replica.inflight--;
      resolve(a);
    };
    const up = request({
      host: '127.0.0.1',
      port: replica.port,
      method: req.method,
      path: req.url,
      headers: endToEnd(req.rawHeaders, String(body.length)),
      agent: replica.agent,
      timeout: timeoutMs,
    });
    const onClientGone = () => {
      if (!res.writableFinished) up.destroy();
    };
    res.once('close', onClientGone);
    up.once('timeout', () => up.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    up.on('error', (err) => {
      res.off('close', onClientGone);
      if (!res.headersSent) {
        finish({ kind: 'unreachable', error: err.message });
      } else {
        res.destroy();
        finish({ kind: 'answered' });
      }
    });
    up.once('response', (ur) => {
      if (ur.statusCode === 503) {
        // Small error bodies: read whole, to tell a full queue (pass it on) from a replica that stopped serving.
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.once('end', () => {
          res.off('close', onClientGone);
          const text = Buffer.concat(chunks);
          let reason: string | undefined;
          try {
            reason = (JSON.parse(text.toString('utf8')) as { reason?: string }).reason;
          } catch {
            reason = undefined;
          }
          if (reason && NOT_SERVING.has(reason)) {
            finish({ kind: 'not-serving', status: 503, headers: ur.rawHeaders, body: text });
            return;
          }
          if (!res.headersSent) {
            res.writeHead(503, endToEnd(ur.rawHeaders, String(text.length)));
            res.end(text);
          }
          finish({ kind: 'answered' });
        });
        ur.on('error', () => {
          res.destroy();
          finish({ kind: 'answered' });
        });
        return;
      }
      res.writeHead(ur.statusCode ?? 502, endToEnd(ur.rawHeaders));
      ur.pipe(res);
      ur.once('end', () => {
        res.off('close', onClientGone);
        finish({ kind: 'answered' });
      });
      ur.on('error', () => {
        res.destroy();
        finish({ kind: 'answered' });
      });
    });
    up.end(body);
  });
}
