// Real HTTP(S) servers on 127.0.0.1:0 for the fetch tests, recording every request they answer.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createReadStream, statSync } from 'node:fs';
import selfsigned from 'selfsigned';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest[]) => void;

export interface TestServer {
  url: string;
  origin: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

async function listen(server: Server, handler: Handler, scheme: 'http' | 'https'): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res, seen);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `${scheme}://127.0.0.1:${port}`;
  return {
    url: origin,
    origin,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function startHttpServer(handler: Handler): Promise<TestServer> {
  return listen(createHttpServer(), handler, 'http');
}

export interface TestCert {
  cert: string;
  key: string;
}

/** A self-signed certificate for 127.0.0.1, so hostname verification passes once it is trusted. */
export async function makeCert(): Promise<TestCert> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

export function startHttpsServer(cert: TestCert, handler: Handler): Promise<TestServer> {
  return listen(createHttpsServer({ cert: cert.cert, key: cert.key }) as unknown as Server, handler, 'https');
}

export interface ServeOptions {
  ranges?: boolean;
  /** Destroy the socket after this many body bytes (the first time only when `cutOnce`). */
  cutAfter?: number;
  etag?: string;
}

/** Serves a buffer or a file, honouring `Range: bytes=N-` when `ranges` is on. */
export function serveBody(req: IncomingMessage, res: ServerResponse, body: Buffer | { file: string }, opts: ServeOptions = {}): void {
  const size = Buffer.isBuffer(body) ? body.length : statSync(body.file).size;
  let start = 0;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
  if (opts.etag) headers.etag = opts.etag;
  if (opts.ranges) headers['accept-ranges'] = 'bytes';
  const ifRange = req.headers['if-range'];
  if (opts.ranges && range && (ifRange === undefined || ifRange === opts.etag)) {
    start = Number(range[1]);
    if (start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(206, { ...headers, 'content-length': size - start, 'content-range': `bytes ${start}-${size - 1}/${size}` });
  } else {
    res.writeHead(200, { ...headers, 'content-length': size });
  }
  const end = opts.cutAfter !== undefined ? Math.min(size, start + opts.cutAfter) : size;
  const finish = () => {
    if (end < size) res.socket?.destroy();
    else res.end();
  };
  if (Buffer.isBuffer(body)) {
    res.write(body.subarray(start, end), finish);
  } else if (end > start) {
    const stream = createReadStream(body.file, { start, end: end - 1 });
    stream.on('end', finish);
    stream.pipe(res, { end: false });
  } else {
    finish();
  }
}
