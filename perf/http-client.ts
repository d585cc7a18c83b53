// A lean HTTP/1.1 client for the load itself: each request is serialised once into the exact bytes to send,
// written with one call on a kept-alive socket, and its answer read by a small parser. node:http spends about
// three times the CPU per request, and a load generator that shares the machine with the server must not.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

/** The bytes of one request: request line, headers, blank line, body. */
export function serializeRequest(method: string, path: string, host: string, headers: Record<string, string>, body: Buffer): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, 'Connection: keep-alive'];
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'content-length') lines.push(`${k}: ${v}`);
  lines.push(`Content-Length: ${body.byteLength}`, '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]);
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

interface Head {
  status: number;
  bodyStart: number;
  contentLength?: number;
  chunked: boolean;
  close: boolean;
}

/** Reads one response at a time from a byte stream. push() returns the answer once it is whole. */
export class ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  private head?: Head;
  /** Set when the stream cannot be a valid response (the connection must be dropped). */
  error?: string;
  /** The server asked to close the connection after this answer. */
  close = false;

  push(chunk: Buffer): HttpAnswer | undefined {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return this.tryComplete(false);
  }

  /** The stream ended: an answer delimited by the end of the connection is now whole. */
  end(): HttpAnswer | undefined {
    return this.tryComplete(true);
  }

  /** True once some bytes of an answer have arrived. */
  get started(): boolean {
    return this.buf.length > 0;
  }

  private tryComplete(ended: boolean): HttpAnswer | undefined {
    if (!this.head) {
      const end = this.buf.indexOf(CRLFCRLF);
      if (end === -1) {
        if (this.buf.length > 65_536) this.error = 'HeadersTooLarge';
        return undefined;
      }
      const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
      if (!m) {
        this.error = 'MalformedResponse';
        return undefined;
      }
      const head: Head = { status: Number(m[1]), bodyStart: end + 4, chunked: false, close: /^HTTP\/1\.0/.test(lines[0]) };
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim().toLowerCase();
        const value = line.slice(i + 1).trim().toLowerCase();
        if (name === 'content-length') head.contentLength = Number(value);
        else if (name === 'transfer-encoding') head.chunked = value.split(',').map((s) => s.trim()).includes('chunked');
        else if (name === 'connection') head.close = value === 'close' ? true : value === 'keep-alive' ? false : head.close;
      }
      if (head.status >= 100 && head.status < 200) {
        // An interim answer (100 Continue): drop it and read the real one.
        this.buf = this.buf.subarray(head.bodyStart);
        return this.tryComplete(ended);
      }
      if (head.status === 204 || head.status === 304) head.contentLength = 0;
      this.head = head;
    }
    const h = this.head;
    let body: Buffer | undefined;
    let consumed = 0;
    if (h.chunked) {
      const r = dechunk(this.buf, h.bodyStart);
      if (r === 'invalid') this.error = 'MalformedResponse';
      if (!r || r === 'invalid') return undefined;
      [body, consumed] = r;
    } else if (h.contentLength !== undefined) {
      if (this.buf.length < h.bodyStart + h.contentLength) return undefined;
      body = this.buf.subarray(h.bodyStart, h.bodyStart + h.contentLength);
      consumed = h.bodyStart + h.contentLength;
    } else {
      if (!ended) return undefined;
      body = this.buf.subarray(h.bodyStart);
      consumed = this.buf.length;
      h.close = true;
    }
    this.close = h.close;
    this.buf = this.buf.subarray(consumed);
    this.head = undefined;
    return { status: h.status, body };
  }
}

/** Chunked transfer coding from `start`: the body and the bytes consumed, undefined while incomplete. */
export function dechunk(buf: Buffer, start: number): [Buffer, number] | undefined | 'invalid' {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', at, 'latin1');
    if (eol === -1) return undefined;
    const size = parseInt(buf.subarray(at, eol).toString('latin1').split(';')[0].trim(), 16);
    if (!Number.isFinite(size) || size < 0) return 'invalid';
    at = eol + 2;
    if (size === 0) {
      // Trailers, then a blank line.
      for (;;) {
        const t = buf.indexOf('\r\n', at, 'latin1');
        if (t === -1) return undefined;
        const blank = t === at;
        at = t + 2;
        if (blank) return [Buffer.concat(parts), at];
      }
    }
    if (buf.length < at + size + 2) return undefined;
    parts.push(buf.subarray(at, at + size));
    at += size + 2;
  }
}

interface Pending {
  bytes: Buffer;
  timeoutMs: number;
  resolve: (a: HttpAnswer | { error: string }) => void;
  retried: boolean;
}

class Connection {
  readonly socket: Socket;
  private parser = new ResponseParser();
  private current?: Pending;
  private timer?: NodeJS.Timeout;
  used = false;
  closed = false;

  constructor(opts: { host: string; port: number; tls: boolean }, private readonly onFree: (c: Connection) => void, private readonly onStale: (p: Pending) => void) {
    this.socket = opts.tls ? tlsConnect({ host: opts.host, port: opts.port, ...(isIP(opts.host) ? {} : { servername: opts.host }) }) : netConnect({ host: opts.host, port: opts.port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (c: Buffer) => this.onData(c));
    this.socket.on('end', () => {
      const a = this.parser.end();
      if (a) this.finish(a);
      this.fail('ECONNRESET');
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(err.code ?? err.message));
    this.socket.on('close', () => this.fail('ECONNRESET'));
  }

  send(p: Pending): void {
    this.current = p;
    if (p.timeoutMs > 0) this.timer = setTimeout(() => this.fail('timeout'), p.timeoutMs);
    this.socket.write(p.bytes);
  }

  private onData(c: Buffer): void {
    const a = this.parser.push(c);
    if (this.parser.error) return this.fail(this.parser.error);
    if (a) this.finish(a);
  }

  private finish(a: HttpAnswer): void {
    const p = this.current;
    if (!p) return;
    clearTimeout(this.timer);
    this.current = undefined;
    this.used = true;
    if (this.parser.close) this.destroy();
    p.resolve(a);
    if (!this.closed) this.onFree(this);
  }

  private fail(code: string): void {
    const p = this.current;
    this.destroy();
    if (!p) return;
    clearTimeout(this.timer);
    this.current = undefined;
    // A kept-alive connection the server closed before reading the request: send it again on a new one.
    if (this.used && !this.parser.started && !p.retried && code !== 'timeout') {
      p.retried = true;
      this.onStale(p);
      return;
    }
    p.resolve({ error: code });
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }
}

/** Up to `maxConnections` kept-alive connections to one origin; requests beyond them wait their turn. */
export class ConnectionPool {
  private idle: Connection[] = [];
  private all = new Set<Connection>();
  private waiting: Pending[] = [];

  constructor(private readonly opts: { host: string; port: number; tls: boolean; maxConnections: number }) {}

  send(bytes: Buffer, timeoutMs: number): Promise<HttpAnswer | { error: string }> {
    return new Promise((resolve) => this.dispatch({ bytes, timeoutMs, resolve, retried: false }));
  }

  private dispatch(p: Pending): void {
    let c = this.idle.pop();
    while (c && c.closed) c = this.idle.pop();
    if (!c) {
      if (this.all.size >= this.opts.maxConnections) {
        this.waiting.push(p);
        return;
      }
      c = new Connection(this.opts, (free) => this.release(free), (again) => this.dispatch(again));
      this.all.add(c);
      const conn = c;
      conn.socket.once('close', () => {
        this.all.delete(conn);
        const next = this.waiting.shift();
        if (next) this.dispatch(next);
      });
    }
    c.send(p);
  }

  private release(c: Connection): void {
    const next = this.waiting.shift();
    if (next) c.send(next);
    else this.idle.push(c);
  }

  close(): void {
    for (const c of this.all) c.destroy();
    this.all.clear();
    this.idle = [];
  }
}
