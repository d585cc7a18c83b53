// Closing a listener cuts no answer and loses no request already accepted, on real sockets on loopback.
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ConnectionLedger } from '../../common/connection-ledger.js';

const BIG = 32 * 1024 * 1024;
const body = Buffer.alloc(BIG, 7);

async function startServer(): Promise<{ server: Server; port: number; ledger: ConnectionLedger }> {
  const server = createServer((req, res) => {
    if (req.url === '/big') res.end(body);
    else if (req.url !== '/never') res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  const ledger = new ConnectionLedger(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port, ledger };
}

/** A raw connection; `received` counts every byte that came back, `ended` settles when the server closed it. */
function rawClient(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  const state = { received: 0, text: '' };
  socket.on('data', (d: Buffer) => {
    state.received += d.length;
    if (state.text.length < 200) state.text += d.subarray(0, 200).toString('latin1');
  });
  const ended = new Promise<void>((r) => socket.on('close', () => r()));
  socket.on('error', () => {});
  const connected = new Promise<void>((r) => socket.once('connect', () => r()));
  return { socket, state, ended, connected };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
const until = async (cond: () => boolean) => { while (!cond()) await new Promise((r) => setTimeout(r, 5)); };
const headerBytes = (text: string) => text.indexOf('\r\n\r\n') + 4;

describe('an answer already ended but still being written to a slow reader', () => {
  async function answeredBytes(close: (s: Awaited<ReturnType<typeof startServer>>) => void): Promise<number> {
    const s = await startServer();
    const c = rawClient(s.port);
    await c.connected;
    c.socket.write(get('/big'));
    await until(() => c.state.received > 0);
    c.socket.pause();
    // The handler has called res.end(); most of the 32 MiB is still queued on the server's side.
    await new Promise((r) => setTimeout(r, 50));
    close(s);
    c.socket.resume();
    await c.ended;
    return c.state.received - headerBytes(c.state.text);
  }

  test('arrives whole through closeListener, where http.Server.close() cuts it', async () => {
    expect(await answeredBytes((s) => s.ledger.closeListener())).toBe(BIG);
    expect(await answeredBytes((s) => s.server.close())).toBeLessThan(BIG);
  });
});

test('a connection accepted before the close, its request sent after it, is answered and then closed', async () => {
  const s = await startServer();
  const accepted = new Promise((r) => s.server.once('connection', r));
  const c = rawClient(s.port);
  await accepted;
  const closing = s.ledger.closeListener();
  expect(closing).toMatchObject({ idleClosed: 0, awaitingFirstRequest: 1 });
  c.socket.write(get('/small'));
  await c.ended;
  await closing.closed;
  expect(c.state.text).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nok$/);
});

test('a keep-alive connection idle between requests closes at once; the listener settles', async () => {
  const s = await startServer();
  const c = rawClient(s.port);
  await c.connected;
  c.socket.write(get('/small'));
  await until(() => c.state.text.endsWith('ok'));
  await until(() => s.ledger.size === 1);
  const closing = s.ledger.closeListener();
  expect(closing).toMatchObject({ idleClosed: 1, awaitingFirstRequest: 0 });
  await c.ended;
  await closing.closed;
  await new Promise((r) => setImmediate(r));
  expect(s.ledger.size).toBe(0);
});

test('a connection that never sends a request is closed once its grace has passed, and new ones are refused', async () => {
  const s = await startServer();
  const accepted = new Promise((r) => s.server.once('connection', r));
  const c = rawClient(s.port);
  await accepted;
  const t = performance.now();
  const closing = s.ledger.closeListener(300);
  expect(closing).toMatchObject({ idleClosed: 0, awaitingFirstRequest: 1 });
  const refused = rawClient(s.port);
  await refused.ended;
  expect(refused.state.received).toBe(0);
  await c.ended;
  await closing.closed;
  expect(performance.now() - t).toBeGreaterThanOrEqual(250);
  expect(c.state.received).toBe(0);
});

test('within(deadline): a request never answered holds the close until the deadline, then its connection is cut', async () => {
  const s = await startServer();
  const c = rawClient(s.port);
  await c.connected;
  c.socket.write(get('/never'));
  await until(() => s.ledger.size === 1);
  await new Promise((r) => setTimeout(r, 20));
  const t = performance.now();
  const closing = s.ledger.closeListener();
  expect(closing).toMatchObject({ idleClosed: 0, awaitingFirstRequest: 0 });
  await closing.within(Date.now() + 300);
  await c.ended;
  expect(performance.now() - t).toBeGreaterThanOrEqual(250);
  expect(c.state.received).toBe(0);
});
