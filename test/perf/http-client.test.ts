// The lean HTTP/1.1 client: its parser byte by byte, and its pool against real sockets on loopback.
import { createServer, type Server, type Socket } from 'node:net';
import { ConnectionPool, dechunk, ResponseParser, serializeRequest } from '../../perf/http-client.js';

const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

test.each([
  ['content-length', ok('{"a":1}'), 200, '{"a":1}', false],
  ['chunked with extensions and trailers', 'HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{"re\r\n8\r\nason":1}\r\n0\r\nX-T: 1\r\n\r\n', 503, '{"reason":1}', false],
  ['Connection: close', ok('x', 'Connection: close\r\n'), 200, 'x', true],
  ['HTTP/1.0 closes', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\ny', 200, 'y', true],
  ['an interim 100 Continue first', `HTTP/1.1 100 Continue\r\n\r\n${ok('z')}`, 200, 'z', false],
  ['204 has no body', 'HTTP/1.1 204 No Content\r\n\r\n', 204, '', false],
])('parser, fed one byte at a time: %s', (_n, wire, status, body, close) => {
  const p = new ResponseParser();
  const bytes = Buffer.from(wire);
  let answer;
  for (let i = 0; i < bytes.length; i++) {
    const a = p.push(bytes.subarray(i, i + 1));
    if (a) {
      expect(i).toBe(bytes.length - 1);
      answer = a;
    }
  }
  expect(answer!.status).toBe(status);
  expect(answer!.body.toString()).toBe(body);
  expect(p.close).toBe(close);
});

test('parser: two answers in one read, an end-delimited body, and garbage', () => {
  const p = new ResponseParser();
  expect(p.push(Buffer.from(ok('1') + ok('22').slice(0, 10)))?.body.toString()).toBe('1');
  expect(p.push(Buffer.from(ok('22').slice(10)))?.body.toString()).toBe('22');
  const e = new ResponseParser();
  expect(e.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nuntil the end'))).toBeUndefined();
  expect(e.end()?.body.toString()).toBe('until the end');
  const g = new ResponseParser();
  g.push(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'));
  expect(g.error).toBe('MalformedResponse');
  expect(dechunk(Buffer.from('zz\r\n'), 0)).toBe('invalid');
});

test('serialised requests carry Host, keep-alive and one Content-Length', () => {
  const bytes = serializeRequest('POST', '/v2/models/m/infer', 'h:1', { 'Content-Type': 'application/json', 'content-length': '999' }, Buffer.from('{}'));
  expect(bytes.toString()).toBe('POST /v2/models/m/infer HTTP/1.1\r\nHost: h:1\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
});

describe('the pool on real sockets', () => {
  let server: Server;
  let port: number;
  const sockets = new Set<Socket>();
  let mode: 'answer' | 'close-after-answer' | 'silent' = 'answer';
  let connections = 0;
  beforeAll(async () => {
    server = createServer((s) => {
      connections++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      let buf = '';
      s.on('data', (c) => {
        buf += c;
        // Each request is a 2-byte body after the headers.
        while (buf.includes('\r\n\r\n') && buf.length >= buf.indexOf('\r\n\r\n') + 6) {
          const end = buf.indexOf('\r\n\r\n') + 6;
          const body = buf.slice(end - 2, end);
          buf = buf.slice(end);
          if (mode === 'silent' || s.writableEnded) return;
          s.write(ok(`echo ${body}`));
          if (mode === 'close-after-answer') s.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  const req = (body: string) => serializeRequest('POST', '/', `127.0.0.1:${port}`, {}, Buffer.from(body));

  test('concurrent requests reuse at most maxConnections sockets and each gets its own answer', async () => {
    mode = 'answer';
    connections = 0;
    const pool = new ConnectionPool({ host: '127.0.0.1', port, tls: false, maxConnections: 3 });
    const bodies = Array.from({ length: 30 }, (_, i) => String(i).padStart(2, '0'));
    const answers = await Promise.all(bodies.map((b) => pool.send(req(b), 5000)));
    expect(answers.map((a) => ('body' in a ? a.body.toString() : a.error))).toEqual(bodies.map((b) => `echo ${b}`));
    expect(connections).toBe(3);
    pool.close();
  });

  test('a connection the server closed is replaced, and the request is not lost', async () => {
    mode = 'close-after-answer';
    const pool = new ConnectionPool({ host: '127.0.0.1', port, tls: false, maxConnections: 1 });
    for (const b of ['aa', 'bb', 'cc']) {
      const a = await pool.send(req(b), 5000);
      expect('body' in a && a.body.toString()).toBe(`echo ${b}`);
    }
    pool.close();
  });

  test('no answer within the deadline is a timeout; a refused connection is ECONNREFUSED', async () => {
    mode = 'silent';
    const pool = new ConnectionPool({ host: '127.0.0.1', port, tls: false, maxConnections: 1 });
    expect(await pool.send(req('dd'), 100)).toEqual({ error: 'timeout' });
    pool.close();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const dead = new ConnectionPool({ host: '127.0.0.1', port: deadPort, tls: false, maxConnections: 1 });
    expect(await dead.send(req('ee'), 1000)).toEqual({ error: 'ECONNREFUSED' });
    dead.close();
  });
});
