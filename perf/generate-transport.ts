// OpenAI's completions and chat completions API, streamed (server-sent events) over node:http on kept-alive
// connections: each request's first token, its last, and the tokens the server counted (stream_options.include_usage).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { PerfError } from './errors.js';
import type { GenerationOutcome } from './generation.js';
import type { GenerateEndpoint } from './prompts.js';
import { readText } from './http-transport.js';
import { networkErrorKey, UNREACHABLE_CODES } from './transport.js';

export type { GenerationOutcome };

export interface GenerateTransportOptions {
  url: string;
  model: string;
  endpoint: GenerateEndpoint;
  outputTokens: number;
  timeoutMs: number;
  maxInflight: number;
}

/** The error key of a refused request: its status and OpenAI's error code (or the protocol's reason). */
export function openAiErrorKey(status: number, body: string): string {
  try {
    const json = JSON.parse(body);
    const code = json?.error?.code ?? json?.reason;
    if (typeof code === 'string' && /^[A-Za-z][\w.-]{0,63}$/.test(code)) return `${status} ${code}`;
  } catch {
    // not JSON: the status alone
  }
  return String(status);
}

/** The request body: the prompt, max_tokens fixed, end-of-sequence tokens ignored, streamed with usage at the end. */
export function generationBody(o: Pick<GenerateTransportOptions, 'model' | 'endpoint' | 'outputTokens'>, prompt: string): string {
  const input = o.endpoint === 'chat' ? { messages: [{ role: 'user', content: prompt }] } : { prompt };
  return JSON.stringify({ model: o.model, ...input, max_tokens: o.outputTokens, ignore_eos: true, stream: true, stream_options: { include_usage: true } });
}

/** Reads a server-sent event stream of OpenAI chunks, as it arrives. */
export class ChunkReader {
  private buffered = '';
  readonly outcome: GenerationOutcome = { outputTokens: 0 };
  private textChunks = 0;
  done = false;

  push(text: string, now: number): void {
    this.buffered += text;
    let end: number;
    while ((end = this.buffered.indexOf('\n\n')) !== -1) {
      const block = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) this.event(data, now);
    }
  }

  private event(data: string, now: number): void {
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    let chunk: any;
    try {
      chunk = JSON.parse(data);
    } catch {
      this.outcome.error ??= 'MalformedEvent';
      return;
    }
    // An error after the headers went out comes as an event in the stream.
    if (chunk?.error) this.outcome.error ??= `stream ${typeof chunk.error.code === 'string' ? chunk.error.code : 'error'}`;
    const choice = chunk?.choices?.[0];
    const text = choice?.text ?? choice?.delta?.content;
    if (typeof text === 'string' && text !== '') {
      this.outcome.firstTokenAt ??= now;
      this.textChunks++;
    }
    if (chunk?.usage) {
      this.outcome.promptTokens = chunk.usage.prompt_tokens;
      this.outcome.outputTokens = chunk.usage.completion_tokens;
    }
  }

  /** The outcome once the stream ended: an error if it ended before [DONE]. */
  finish(): GenerationOutcome {
    if (!this.done) this.outcome.error ??= 'IncompleteStream';
    if (this.outcome.promptTokens === undefined) this.outcome.outputTokens = this.textChunks;
    return this.outcome;
  }
}

export class GenerateTransport {
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;
  private readonly base: URL;
  private readonly prefix: string;
  private bodies: Buffer[] = [];

  constructor(private readonly opts: GenerateTransportOptions) {
    this.base = new URL(opts.url);
    const https = this.base.protocol === 'https:';
    const agentOpts = { keepAlive: true, maxSockets: opts.maxInflight };
    this.agent = https ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts);
    this.request = https ? (httpsRequest as typeof httpRequest) : httpRequest;
    this.prefix = this.base.pathname.replace(/\/+$/, '');
  }

  get path(): string {
    return `${this.prefix}/v1/${this.opts.endpoint === 'chat' ? 'chat/completions' : 'completions'}`;
  }

  private call(method: string, path: string, body: Buffer | undefined, onResponse: (res: IncomingMessage) => void, onError: (err: Error) => void): void {
    const headers = body ? { 'Content-Type': 'application/json', 'Content-Length': String(body.byteLength) } : {};
    const req = this.request({ agent: this.agent, host: this.base.hostname.replace(/^\[|\]$/g, ''), port: this.base.port || undefined, path, method, headers }, onResponse);
    req.setTimeout(this.opts.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${this.opts.timeoutMs} ms`), { code: 'timeout' })));
    req.on('error', onError);
    req.end(body);
  }

  /** GET /v1/models: the server answers and serves the model; throws PerfError Unreachable or ModelUnavailable. */
  async checkModel(): Promise<void> {
    const where = `${this.base.origin}${this.prefix}/v1/models`;
    const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      this.call('GET', `${this.prefix}/v1/models`, undefined, (res) => readText(res).then((text) => resolve({ status: res.statusCode ?? 0, text }), reject), reject);
    }).catch((err) => {
      const code = networkErrorKey(err);
      throw new PerfError('Unreachable', UNREACHABLE_CODES.has(code) ? `cannot reach ${this.opts.url}: ${code} (${(err as Error).message})` : `GET ${where} failed: ${(err as Error).message}`);
    });
    if (r.status !== 200) throw new PerfError('ModelUnavailable', `GET ${where} answered ${r.status}: ${r.text.slice(0, 300)} (is ${this.opts.url} an OpenAI-compatible server?)`);
    let ids: unknown[] = [];
    try {
      ids = (JSON.parse(r.text).data as { id: unknown }[]).map((m) => m.id);
    } catch {
      throw new PerfError('ModelUnavailable', `GET ${where}: the answer is not OpenAI's model list`);
    }
    if (!ids.includes(this.opts.model)) throw new PerfError('ModelUnavailable', `no generative model ${this.opts.model} at ${where} (it serves: ${ids.join(', ') || 'none'})`);
  }

  prepare(prompts: string[]): void {
    this.bodies = prompts.map((p) => Buffer.from(generationBody(this.opts, p)));
  }

  /** Sends prompt i modulo their number and reads the stream to its end. */
  send(i: number): Promise<GenerationOutcome> {
    return new Promise((resolve) => {
      const fail = (err: unknown) => resolve({ error: networkErrorKey(err), outputTokens: 0 });
      this.call('POST', this.path, this.bodies[i % this.bodies.length], (res) => {
        if (res.statusCode !== 200) {
          readText(res).then((text) => resolve({ error: openAiErrorKey(res.statusCode ?? 0, text), outputTokens: 0 }), fail);
          return;
        }
        const reader = new ChunkReader();
        res.setEncoding('utf8');
        res.on('data', (c: string) => reader.push(c, performance.now()));
        res.on('end', () => resolve(reader.finish()));
        res.on('error', fail);
      }, fail);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
