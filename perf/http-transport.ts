// The Open Inference Protocol over HTTP/1.1 (JSON, or Triton's binary tensor extension) on kept-alive sockets:
// node:http for metadata, the lean client in http-client.ts for the load.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { typeInfo } from '../runtime/datatypes.js';
import { encodeBinaryData, encodeJsonData } from '../runtime/tensors.js';
import { PerfError } from './errors.js';
import { ConnectionPool, serializeRequest } from './http-client.js';
import { parseModelMetadata, type ModelMetadata, type RequestSample } from './inputs.js';
import { networkErrorKey, UNREACHABLE_CODES, type Transport, type TransportOptions } from './transport.js';

export interface HttpRequestBody {
  body: Buffer;
  headers: Record<string, string>;
}

function jsonData(t: RequestSample[number]): string {
  if ('strings' in t.payload) return JSON.stringify(t.payload.strings);
  const info = typeInfo(t.datatype);
  const arr = new info.array!(t.payload.bytes.byteLength / info.size);
  new Uint8Array(arr.buffer).set(t.payload.bytes);
  return encodeJsonData(t.datatype, arr);
}

/** One inference request body: inputs as JSON `data`, or as binary chunks with every output asked in binary. */
export function encodeHttpRequest(sample: RequestSample, outputs: string[], binary: boolean): HttpRequestBody {
  if (!binary) {
    const inputs = sample.map((t) => `{"name":${JSON.stringify(t.name)},"shape":[${t.shape.join(',')}],"datatype":"${t.datatype}","data":${jsonData(t)}}`);
    const body = Buffer.from(`{"inputs":[${inputs.join(',')}]}`);
    return { body, headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.byteLength) } };
  }
  const chunks = sample.map((t) => encodeBinaryData('strings' in t.payload ? t.payload.strings : t.payload.bytes));
  const inputs = sample.map((t, i) => ({ name: t.name, shape: t.shape, datatype: t.datatype, parameters: { binary_data_size: chunks[i].byteLength } }));
  // Without the output names (metadata that lists none) every output is asked for, in binary.
  const header = JSON.stringify(
    outputs.length > 0 ? { inputs, outputs: outputs.map((name) => ({ name, parameters: { binary_data: true } })) } : { parameters: { binary_data_output: true }, inputs },
  );
  const head = Buffer.from(header);
  const body = Buffer.concat([head, ...chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))]);
  return {
    body,
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(head.byteLength), 'Content-Length': String(body.byteLength) },
  };
}

/** The error key of a non-200 answer: its status and, when the body carries one, the reason code. */
export function httpErrorKey(status: number, body: string): string {
  try {
    const reason = JSON.parse(body)?.reason;
    if (typeof reason === 'string' && /^[A-Za-z][\w.-]{0,63}$/.test(reason)) return `${status} ${reason}`;
  } catch {
    // not JSON: the status alone
  }
  return String(status);
}

/** A response body as text, at most `limit` characters of it kept (an error's body, for its reason). */
export function readText(res: IncomingMessage, limit = 65_536): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      if (text.length < limit) text += c;
    });
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}

export class HttpTransport implements Transport {
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;
  private readonly host: string;
  private readonly port: number;
  private readonly modelPath: string;
  private readonly pool: ConnectionPool;
  private readonly hostHeader: string;
  private prepared: Buffer[] = [];

  constructor(private readonly opts: TransportOptions) {
    const u = new URL(opts.url);
    const https = u.protocol === 'https:';
    const agentOpts = { keepAlive: true, maxSockets: 2 };
    this.agent = https ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts);
    this.request = https ? (httpsRequest as typeof httpRequest) : httpRequest;
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || (https ? 443 : 80));
    this.hostHeader = u.host;
    this.pool = new ConnectionPool({ host: this.host, port: this.port, tls: https, maxConnections: opts.maxInflight });
    const prefix = u.pathname.replace(/\/+$/, '');
    const version = opts.modelVersion ? `/versions/${encodeURIComponent(opts.modelVersion)}` : '';
    this.modelPath = `${prefix}/v2/models/${encodeURIComponent(opts.model)}${version}`;
  }

  private get(path: string, timeoutMs: number): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = this.request({ agent: this.agent, host: this.host, port: this.port, path, method: 'GET' }, (res) => {
        readText(res).then((text) => resolve({ status: res.statusCode ?? 0, text }), reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'timeout' })));
      req.on('error', reject);
      req.end();
    });
  }

  async metadata(): Promise<ModelMetadata> {
    const where = `${new URL(this.opts.url).origin}${this.modelPath}`;
    let r: { status: number; text: string };
    try {
      r = await this.get(this.modelPath, Math.min(this.opts.timeoutMs, 10_000));
    } catch (err) {
      const code = networkErrorKey(err);
      if (UNREACHABLE_CODES.has(code)) throw new PerfError('Unreachable', `cannot reach ${this.opts.url}: ${code} (${(err as Error).message})`);
      throw new PerfError('Unreachable', `GET ${where} failed: ${(err as Error).message}`);
    }
    if (r.status !== 200) {
      let msg = r.text.slice(0, 300);
      try {
        msg = JSON.parse(r.text).error ?? msg;
      } catch {
        // keep the raw text
      }
      throw new PerfError('ModelUnavailable', `GET ${where} answered ${r.status}: ${msg}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(r.text);
    } catch {
      throw new PerfError('ModelUnavailable', `GET ${where}: the answer is not JSON (is ${this.opts.url} an Open Inference Protocol server?)`);
    }
    const meta = parseModelMetadata(body);
    const ready = await this.get(`${this.modelPath}/ready`, Math.min(this.opts.timeoutMs, 10_000)).catch(() => undefined);
    if (ready && ready.status !== 200) throw new PerfError('ModelUnavailable', `model ${this.opts.model} is not ready (GET ${where}/ready answered ${ready.status})`);
    return meta;
  }

  prepare(samples: RequestSample[], outputs: string[]): void {
    this.prepared = samples.map((s) => {
      const { body, headers } = encodeHttpRequest(s, outputs, this.opts.binary);
      return serializeRequest('POST', `${this.modelPath}/infer`, this.hostHeader, headers, body);
    });
  }

  async infer(i: number): Promise<string | undefined> {
    const a = await this.pool.send(this.prepared[i % this.prepared.length], this.opts.timeoutMs);
    if ('error' in a) return a.error;
    if (a.status === 200) return undefined;
    return httpErrorKey(a.status, a.body.subarray(0, 65_536).toString('utf8'));
  }

  close(): void {
    this.pool.close();
    this.agent.destroy();
  }
}
