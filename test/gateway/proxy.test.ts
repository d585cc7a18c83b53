// The gateway's inference path over real loopback HTTP, against replica stand-ins that answer, reject or die on cue:
// routing by model name, bytes and headers through both ways, one retry on another replica, the error answers,
// requests held while a deployment comes up from zero, and the counts it keeps (requests in flight, per replica and
// for the meter) back to zero after each case.
import { describe, expect, test } from '@jest/globals';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Directory, ReadyCondition, Target, Upstream as GatewayUpstream } from '../../gateway/directory.js';
import { isOpenAiInference, modelOfBody, modelOfPath, openAiCode } from '../../gateway/proxy.js';
import { createGateway, type Gatekeeper, type Gateway } from '../../gateway/server.js';
import { LoadMeter } from '../../local/load-meter.js';
import { waitFor } from '../support/wait-for.js';

/** A replica stand-in as the gateway sees it, with the phase the stand-in deployment filters on. */
type Replica = GatewayUpstream & { phase: string };

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

interface Upstream {
  server: Server;
  replica: Replica;
  seen: { headers: IncomingMessage['headers']; body: Buffer; url: string }[];
}

const servers: Server[] = [];
const agents: Agent[] = [];

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function upstream(id: string, handler: Handler): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ headers: req.headers, body, url: req.url ?? '' });
      handler(req, res, body);
    });
  });
  const port = await listen(server);
  const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 300_000 });
  agents.push(agent);
  return { server, seen, replica: { id, host: '127.0.0.1', port, inflight: 0, phase: 'ready', agent } };
}

/** A stand-in deployment: its replicas (those in phase ready are routed to), its meter, desired count and Ready condition. */
type StandIn = Target & { meter: LoadMeter; replicas: Replica[]; desired: number; ready?: ReadyCondition; activations: number; activatable: boolean };

function deployment(replicas: Replica[], name = 'simple'): StandIn {
  const meter = new LoadMeter();
  const d: StandIn = {
    namespace: 'default',
    name,
    model: name,
    meter,
    observer: meter,
    replicas,
    desired: replicas.length || 1,
    activations: 0,
    activatable: true,
    upstreams: () => d.replicas.filter((r) => r.phase === 'ready'),
    desiredReplicas: () => d.desired,
    readyCondition: () => d.ready,
    activate: () => {
      d.activations++;
      return d.activatable;
    },
  };
  return d;
}

/** A gateway over `deps` (by model name); `changed(d)` tells it a deployment's replicas changed. */
async function router(deps: Record<string, StandIn>, maxBodyBytes = 1 << 20, hold = { activationTimeoutMs: 300_000, maxHeldRequests: 100 }, keys?: Gatekeeper) {
  const listeners: ((t: Target) => void)[] = [];
  const directory: Directory = { lookup: (m) => deps[m], list: () => Object.values(deps), subscribe: (l) => listeners.push(l) };
  const gateway: Gateway = createGateway({ directory, maxBodyBytes, upstreamTimeoutMs: 300_000, ...hold, version: 'test', ...(keys ? { keys } : {}) });
  const port = await listen(createServer(gateway.handle));
  return { port, inflight: gateway.inflight, gateway, changed: (d: Target) => listeners.forEach((l) => l(d)) };
}

function send(port: number, path: string, body: Buffer | undefined, headers: Record<string, string> = {}, method = 'POST'): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (res: ServerResponse, status: number, value: unknown) => {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
};

/** Waits (up to 5 s) for the close events that end every exchange on the router: the counts all back to zero. */
async function settled(...counts: { count?: number; inflight?: number }[]): Promise<void> {
  const busy = () => counts.some((c) => (c.count ?? 0) !== 0 || (c.inflight ?? 0) !== 0);
  for (let i = 0; i < 500 && busy(); i++) await new Promise((r) => setTimeout(r, 10));
}

afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); })));
});

test.each([
  ['/v2/models/simple/infer', 'simple'],
  ['/v2/models/simple', 'simple'],
  ['/v2/models/simple?x=1', 'simple'],
  ['/v2/models/simple#frag', 'simple'],
  ['/v2/models/a%2Fb/infer', 'a/b'],
  ['/v2/models/%E2%9C%93/ready', '\u2713'],
  ['/v2/models/%zz/infer', undefined],
  ['/v2/models//infer', undefined],
  ['/v2/models/', undefined],
  ['/v2/health/ready', undefined],
])('modelOfPath(%s) is %s', (path, model) => {
  expect(modelOfPath(path)).toBe(model);
});

test('/v2/health/ready is the protocol\'s server readiness: some model, and every one ready or at zero', async () => {
  const ready = (port: number) => send(port, '/v2/health/ready', undefined, {}, 'GET').then((r) => r.status);
  const a = await upstream('a-0', (_req, res) => json(res, 200, {}));
  const cold = deployment([], 'cold');
  const r = await router({ a: deployment([a.replica], 'a'), cold });
  expect(await ready(r.port)).toBe(503);
  cold.desired = 0;
  expect(await ready(r.port)).toBe(200);
  expect(await ready((await router({})).port)).toBe(503);
  expect((await send(r.port, '/v2/health/live', undefined, {}, 'GET')).status).toBe(200);
});

test('POST /v2/repository/index reads Triton\'s request: ready: true lists READY ones; a named repository, bad JSON and a huge body are refused', async () => {
  const a = await upstream('a-0', (_req, res) => json(res, 200, {}));
  const cold = deployment([], 'cold');
  const r = await router({ a: deployment([a.replica], 'a'), cold });
  const index = async (body?: Buffer | string) => {
    const ans = await send(r.port, '/v2/repository/index', body === undefined ? undefined : Buffer.from(body));
    return { status: ans.status, json: JSON.parse(ans.body.toString()) };
  };
  expect(await index()).toEqual({ status: 200, json: [{ name: 'a', version: '1', state: 'READY', reason: '' }, { name: 'cold', version: '1', state: 'LOADING', reason: '' }] });
  expect((await index('{"ready":true}')).json).toEqual([{ name: 'a', version: '1', state: 'READY', reason: '' }]);
  expect(await index('{"repository_name":"models"}')).toEqual({ status: 501, json: { reason: 'RepositoryNotSupported', error: expect.stringContaining('"models"') } });
  expect(await index('{"ready":1}')).toEqual({ status: 400, json: { reason: 'InvalidRequest', error: 'ready: must be a boolean' } });
  expect((await index('{')).json.reason).toBe('MalformedJson');
  expect(await index(Buffer.alloc(1 << 20, 32))).toEqual({ status: 413, json: { reason: 'BodyTooLarge', error: expect.stringContaining('65536') } });
});

test('each model goes to its own replicas; bytes that are not text and end-to-end headers pass both ways, hop-by-hop ones do not', async () => {
  const a = await upstream('a-0', (_req, res, body) => {
    res.writeHead(200, ['Content-Type', 'application/octet-stream', 'X-Echo-Length', String(body.length), 'X-Model', 'a', 'Proxy-Authenticate', 'Basic']);
    res.end(Buffer.concat([Buffer.from([0, 255]), body]));
  });
  const b = await upstream('b-0', (_req, res) => json(res, 200, { model: 'b' }));
  const r = await router({ a: deployment([a.replica]), b: deployment([b.replica]) });
  const payload = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256));
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    i % 2 === 0
      ? send(r.port, '/v2/models/a/infer?trace=1', Buffer.concat([payload, Buffer.from([i])]), { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': '12', 'Proxy-Authorization': 'Basic eA==', TE: 'trailers' })
      : send(r.port, '/v2/models/b/infer', Buffer.from('{}'), { 'Content-Type': 'application/json' })));
  answers.forEach((ans, i) => {
    expect(ans.status).toBe(200);
    if (i % 2 === 0) {
      expect(ans.body.equals(Buffer.concat([Buffer.from([0, 255]), payload, Buffer.from([i])]))).toBe(true);
      expect(ans.headers).toMatchObject({ 'x-model': 'a', 'x-echo-length': String(payload.length + 1) });
      expect(ans.headers['proxy-authenticate']).toBeUndefined();
    } else {
      expect(JSON.parse(ans.body.toString())).toEqual({ model: 'b' });
    }
  });
  expect(a.seen).toHaveLength(10);
  expect(b.seen).toHaveLength(10);
  for (const s of a.seen) {
    expect(s.url).toBe('/v2/models/a/infer?trace=1');
    expect(s.headers).toMatchObject({ 'content-type': 'application/octet-stream', 'inference-header-content-length': '12', 'content-length': String(payload.length + 1) });
    expect(s.headers['proxy-authorization']).toBeUndefined();
    expect(s.headers.te).toBeUndefined();
  }
  await settled(r.inflight, a.replica);
  expect(r.inflight.count).toBe(0);
  expect(a.replica.inflight).toBe(0);
});

test('a replica that dies before answering: the request is sent once more to another replica', async () => {
  const dead = await upstream('m-0', (req) => req.socket.destroy());
  const live = await upstream('m-1', (_req, res, body) => json(res, 200, { got: body.toString() }));
  // Both idle: the first listed, the dead one, is picked first.
  const dep = deployment([dead.replica, live.replica]);
  const r = await router({ m: dep });
  const ans = await send(r.port, '/v2/models/m/infer', Buffer.from('payload-1'));
  expect(ans.status).toBe(200);
  expect(JSON.parse(ans.body.toString())).toEqual({ got: 'payload-1' });
  expect(dead.seen).toHaveLength(1);
  expect(live.seen).toHaveLength(1);
  await settled(r.inflight, dead.replica, live.replica, dep.meter);
  expect(dep.meter.summary()).toMatchObject({ failed: 0, rejected: 0 });
  expect([r.inflight.count, dead.replica.inflight, live.replica.inflight, dep.meter.inflight]).toEqual([0, 0, 0, 0]);
});

test('every replica dies before answering: 502 ReplicaUnavailable after one retry, counted as failed', async () => {
  const ups = await Promise.all(['m-0', 'm-1', 'm-2'].map((id) => upstream(id, (req) => req.socket.destroy())));
  const dep = deployment(ups.map((u) => u.replica));
  const r = await router({ m: dep });
  const ans = await send(r.port, '/v2/models/m/infer', Buffer.from('x'));
  expect(ans.status).toBe(502);
  expect(JSON.parse(ans.body.toString())).toMatchObject({ reason: 'ReplicaUnavailable' });
  expect(ups.reduce((n, u) => n + u.seen.length, 0)).toBe(2);
  // The message names the replica that failed last: one of the two tried.
  const named = /replica (m-\d) of simple failed before answering/.exec(JSON.parse(ans.body.toString()).error)?.[1];
  expect(ups.filter((u) => u.seen.length > 0).map((u) => u.replica.id)).toContain(named);
  await settled(r.inflight, dep.meter, ...ups.map((u) => u.replica));
  expect(dep.meter.summary().failed).toBe(1);
  expect([r.inflight.count, dep.meter.inflight, ...ups.map((u) => u.replica.inflight)]).toEqual([0, 0, 0, 0, 0]);
});

test('the only replica dies before answering: 502 ReplicaUnavailable naming it, and the router carries on', async () => {
  const dead = await upstream('m-0', (req) => req.socket.destroy());
  const dep = deployment([dead.replica]);
  const r = await router({ m: dep });
  for (let i = 0; i < 2; i++) {
    const ans = await send(r.port, '/v2/models/m/infer', Buffer.from('x'));
    expect(ans.status).toBe(502);
    expect(JSON.parse(ans.body.toString())).toMatchObject({ reason: 'ReplicaUnavailable' });
    expect(JSON.parse(ans.body.toString()).error).toContain('replica m-0 of simple failed before answering');
  }
  await settled(r.inflight, dead.replica, dep.meter);
  expect([r.inflight.count, dead.replica.inflight, dep.meter.inflight]).toEqual([0, 0, 0]);
});

test('a replica that is not serving (NotReady) hands the request on; a full queue (QueueFull) is the answer', async () => {
  const loading = await upstream('m-0', (_req, res) => json(res, 503, { error: 'loading', reason: 'NotReady' }));
  const live = await upstream('m-1', (_req, res) => json(res, 200, { ok: true }));
  const r1 = await router({ m: deployment([loading.replica, live.replica]) });
  const ok = await send(r1.port, '/v2/models/m/infer', Buffer.from('{}'));
  expect(ok.status).toBe(200);

  const full = await upstream('q-0', (_req, res) => {
    res.setHeader('Retry-After', '2');
    json(res, 503, { error: 'queue full', reason: 'QueueFull' });
  });
  const other = await upstream('q-1', (_req, res) => json(res, 200, { ok: true }));
  const dep = deployment([full.replica, other.replica]);
  const r2 = await router({ q: dep });
  const busy = await send(r2.port, '/v2/models/q/infer', Buffer.from('{}'));
  expect(busy.status).toBe(503);
  expect(busy.headers['retry-after']).toBe('2');
  expect(JSON.parse(busy.body.toString())).toMatchObject({ reason: 'QueueFull' });
  expect(other.seen).toHaveLength(0);

  // The only replica not serving: its own 503 is passed on.
  const r3 = await router({ n: deployment([loading.replica]) });
  const none = await send(r3.port, '/v2/models/n/infer', Buffer.from('{}'));
  expect(none.status).toBe(503);
  expect(JSON.parse(none.body.toString())).toMatchObject({ reason: 'NotReady' });
  await settled(dep.meter);
  expect(dep.meter.summary().rejected).toBe(1);
});

test('no ready replica of a failing deployment: 503 NoReadyReplica at once, with its Ready reason; an unknown model: 404; a body over the limit: 413', async () => {
  const dep = deployment([]);
  dep.ready = { status: 'False', reason: 'ModelLoadFailed', message: 'ModelLoadFailed: onnxruntime could not load the model' };
  const r = await router({ m: dep }, 1000);
  const none = await send(r.port, '/v2/models/m/infer', Buffer.from('{}'));
  expect(none.status).toBe(503);
  expect(none.headers['retry-after']).toBe('1');
  expect(none.headers['modelplane-ready-reason']).toBe('ModelLoadFailed');
  expect(JSON.parse(none.body.toString())).toEqual({
    reason: 'NoReadyReplica',
    error: 'no replica of simple is ready: ModelLoadFailed: onnxruntime could not load the model',
    status: { reason: 'ModelLoadFailed', message: 'ModelLoadFailed: onnxruntime could not load the model' },
  });
  expect(dep.activations).toBe(0);
  const unknown = await send(r.port, '/v2/models/other/infer', Buffer.from('{}'));
  expect(unknown.status).toBe(404);
  expect(JSON.parse(unknown.body.toString())).toMatchObject({ reason: 'ModelNotFound' });
  const declared = await send(r.port, '/v2/models/m/infer', Buffer.alloc(1001));
  expect(declared.status).toBe(413);
  expect(JSON.parse(declared.body.toString())).toMatchObject({ reason: 'BodyTooLarge' });
  // Chunked, so only the bytes read tell.
  const chunked = await send(r.port, '/v2/models/m/infer', Buffer.alloc(5000), { 'Transfer-Encoding': 'chunked' });
  expect(chunked.status).toBe(413);
  await settled(r.inflight, dep.meter);
  expect(dep.meter.summary().rejected).toBe(1);
  expect([r.inflight.count, dep.meter.inflight]).toEqual([0, 0]);
});

test('a large answer streams through whole to a slow reader', async () => {
  const big = Buffer.alloc(4 << 20);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251;
  const u = await upstream('m-0', (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    let off = 0;
    const more = () => {
      while (off < big.length) {
        const ok = res.write(big.subarray(off, off + 65536));
        off += 65536;
        if (!ok) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  const dep = deployment([u.replica]);
  const r = await router({ m: dep });
  const got = await new Promise<Buffer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: r.port, method: 'POST', path: '/v2/models/m/infer', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        res.pause();
        setTimeout(() => res.resume(), 1);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end('{}');
  });
  expect(got.equals(big)).toBe(true);
  await settled(r.inflight, u.replica, dep.meter);
  expect([r.inflight.count, dep.meter.inflight, u.replica.inflight]).toEqual([0, 0, 0]);
});

test('a client that goes away while the replica computes: the try is dropped, not retried, not a failure, and the counts go back to zero', async () => {
  let answerLater: (() => void) | undefined;
  const slow = await upstream('m-0', (_req, res) => {
    answerLater = () => json(res, 200, { late: true });
  });
  const other = await upstream('m-1', (_req, res) => json(res, 200, { ok: true }));
  const dep = deployment([slow.replica, other.replica]);
  const r = await router({ m: dep });
  const req = request({ host: '127.0.0.1', port: r.port, method: 'POST', path: '/v2/models/m/infer', agent: false });
  req.on('error', () => undefined);
  req.end('{}');
  for (let i = 0; i < 100 && slow.seen.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
  expect(slow.replica.inflight).toBe(1);
  req.destroy();
  await settled(r.inflight, slow.replica, other.replica, dep.meter);
  expect(other.seen).toHaveLength(0);
  expect([r.inflight.count, dep.meter.inflight, slow.replica.inflight, other.replica.inflight]).toEqual([0, 0, 0, 0]);
  // Counted as the client's doing, like the 499 of other proxies, not as a failure of the deployment.
  expect(dep.meter.summary()).toMatchObject({ failed: 0, rejected: 0, rate: 1 });
  answerLater?.();
});

test.each([
  ['/v1/completions', true],
  ['/v1/chat/completions', true],
  ['/v1/chat/completions/', true],
  ['/v1/completions?x=1', true],
  ['/v1/models', false],
  ['/v1/chat', false],
  ['/v1/completionsx', false],
  ['/v2/models/m/generate', false],
])('isOpenAiInference(%s) is %s', (url, yes) => {
  expect(isOpenAiInference(url)).toBe(yes);
});

test.each([
  ['{"model":"chat","messages":[]}', { model: 'chat' }],
  ['{"messages":[]}', { reason: 'MissingModel' }],
  ['{"model":""}', { reason: 'MissingModel' }],
  ['{"model":7}', { reason: 'MissingModel' }],
  ['[1]', { reason: 'InvalidRequest' }],
  ['{"model": ', { reason: 'InvalidJson' }],
])('modelOfBody(%s)', (body, expected) => {
  expect(modelOfBody(Buffer.from(body))).toMatchObject(expected);
});

test('openAiCode is the reason in snake case, as the runtime names its codes', () => {
  expect(['ModelNotFound', 'NoReadyReplica', 'BodyTooLarge', 'InvalidJson'].map(openAiCode)).toEqual(['model_not_found', 'no_ready_replica', 'body_too_large', 'invalid_json']);
});

/** A replica stand-in that streams server-sent events: one now, the rest when `finish` is called. */
async function sseUpstream(id: string) {
  let finish: (() => void) | undefined;
  let closed = false;
  const u = await upstream(id, (_req, res, body) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write(`data: ${JSON.stringify({ first: JSON.parse(body.toString()).model })}\n\n`);
    res.on('close', () => (closed = true));
    finish = () => {
      res.write('data: {"last":true}\n\n');
      res.end('data: [DONE]\n\n');
    };
  });
  return { ...u, finish: () => finish?.(), closed: () => closed, started: () => finish !== undefined };
}

test('OpenAI\'s routes go to the deployment the body names; a stream\'s first event comes through before the replica ends it, and it is in flight until then', async () => {
  const chat = await sseUpstream('chat-0');
  const other = await upstream('other-0', (_req, res) => json(res, 200, { other: true }));
  const dep = deployment([chat.replica]);
  const r = await router({ chat: dep, other: deployment([other.replica]) });
  const events: string[] = [];
  let ended = false;
  const req = request({ host: '127.0.0.1', port: r.port, method: 'POST', path: '/v1/chat/completions', agent: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => events.push(c));
    res.on('end', () => (ended = true));
  });
  req.end(JSON.stringify({ model: 'chat', messages: [], stream: true }));
  for (let i = 0; i < 500 && events.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
  expect(events.join('')).toBe('data: {"first":"chat"}\n\n');
  expect(ended).toBe(false);
  // In flight for the replica choice and the autoscaler while it streams.
  expect([chat.replica.inflight, dep.meter.inflight, r.inflight.count]).toEqual([1, 1, 1]);
  chat.finish();
  for (let i = 0; i < 500 && !ended; i++) await new Promise((res) => setTimeout(res, 10));
  expect(events.join('')).toBe('data: {"first":"chat"}\n\ndata: {"last":true}\n\ndata: [DONE]\n\n');
  expect(chat.seen[0].url).toBe('/v1/chat/completions');
  expect(other.seen).toHaveLength(0);
  await settled(r.inflight, chat.replica, dep.meter);
  expect([chat.replica.inflight, dep.meter.inflight, r.inflight.count]).toEqual([0, 0, 0]);
  expect(dep.meter.summary()).toMatchObject({ failed: 0, rejected: 0 });
});

test('a client that goes away mid-stream: the router closes the replica\'s connection, and the counts go back to zero', async () => {
  const chat = await sseUpstream('chat-0');
  const dep = deployment([chat.replica]);
  const r = await router({ chat: dep });
  let got = '';
  const req = request({ host: '127.0.0.1', port: r.port, method: 'POST', path: '/v1/completions', agent: false }, (res) => res.on('data', (c) => (got += c)));
  req.on('error', () => undefined);
  req.end(JSON.stringify({ model: 'chat', prompt: 'x', stream: true }));
  for (let i = 0; i < 500 && got === ''; i++) await new Promise((res) => setTimeout(res, 10));
  expect(got).toContain('first');
  req.destroy();
  for (let i = 0; i < 500 && !chat.closed(); i++) await new Promise((res) => setTimeout(res, 10));
  expect(chat.closed()).toBe(true);
  await settled(r.inflight, chat.replica, dep.meter);
  expect([chat.replica.inflight, dep.meter.inflight, r.inflight.count]).toEqual([0, 0, 0]);
});

test('OpenAI\'s routes answer the router\'s own errors in OpenAI\'s shape', async () => {
  const idle = deployment([]);
  idle.ready = { status: 'False', reason: 'CrashLoop', message: 'the runtime exits at start' };
  const r = await router({ idle }, 1000);
  const error = async (path: string, body: string | Buffer, headers: Record<string, string> = {}, method = 'POST') => {
    const ans = await send(r.port, path, Buffer.from(body), headers, method);
    return { status: ans.status, body: JSON.parse(ans.body.toString()) };
  };
  expect(await error('/v1/chat/completions', '{"model":"nope","messages":[]}')).toEqual({ status: 404, body: { error: { message: "The model 'nope' does not exist", type: 'not_found_error', param: 'model', code: 'model_not_found' } } });
  expect(await error('/v1/completions', '{"prompt":"x"}')).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error', param: 'model', code: 'missing_model' } } });
  expect(await error('/v1/completions', 'not json')).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
  expect(await error('/v1/completions', Buffer.alloc(2000))).toMatchObject({ status: 413, body: { error: { code: 'body_too_large' } } });
  expect(await error('/v1/completions', '{}', { 'Content-Encoding': 'gzip' })).toMatchObject({ status: 415, body: { error: { code: 'unsupported_encoding', message: expect.stringContaining('Content-Encoding gzip') } } });
  expect(await error('/v1/completions', '', {}, 'GET')).toMatchObject({ status: 405, body: { error: { code: 'method_not_allowed' } } });
  const none = await send(r.port, '/v1/completions', Buffer.from('{"model":"idle","prompt":"x"}'));
  expect(none.status).toBe(503);
  expect(none.headers['retry-after']).toBe('1');
  expect(none.headers['modelplane-ready-reason']).toBe('CrashLoop');
  expect(JSON.parse(none.body.toString())).toEqual({ error: { message: 'no replica of simple is ready: CrashLoop: the runtime exits at start', type: 'server_error', param: null, code: 'no_ready_replica' } });
  await settled(r.inflight);
  expect(r.inflight.count).toBe(0);
});

describe('requests held while a deployment comes up', () => {
  test('at zero: each request is held, the deployment asked for a replica, and all are released in arrival order once one is ready', async () => {
    const order: string[] = [];
    const u = await upstream('z-0', (_req, res, body) => {
      order.push(body.toString());
      json(res, 200, { got: body.toString() });
    });
    u.replica.phase = 'starting';
    const dep = deployment([u.replica], 'z');
    dep.desired = 0;
    dep.ready = { status: 'True', reason: 'ScaledToZero', message: 'no replicas requested' };
    const r = await router({ z: dep });
    const answers: Promise<{ status: number; body: Buffer }>[] = [];
    for (let i = 0; i < 20; i++) {
      answers.push(send(r.port, '/v2/models/z/infer', Buffer.from(`req-${i}`)));
      // Each is held before the next is sent, so arrival order is known.
      await waitFor(`request ${i} held`, () => r.gateway.hold.heldFor(dep) === i + 1);
    }
    expect(dep.activations).toBe(20);
    expect(r.gateway.metricsText()).toContain('modelplane_gateway_requests_held{namespace="default",modeldeployment="z",model="z"} 20');
    // Held requests count as load for the autoscaler.
    expect(dep.meter.inflight).toBe(20);
    u.replica.phase = 'ready';
    dep.desired = 1;
    r.changed(dep);
    const done = await Promise.all(answers);
    expect(done.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(done.map((a) => JSON.parse(a.body.toString()).got)).toEqual(Array.from({ length: 20 }, (_, i) => `req-${i}`));
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => `req-${i}`));
    expect(r.gateway.stats.coldStarts(dep).count).toBe(1);
    await settled(r.inflight, u.replica, dep.meter);
    expect(r.gateway.hold.heldTotal).toBe(0);
    expect(r.gateway.metricsText()).toContain('modelplane_gateway_requests_total{namespace="default",modeldeployment="z",model="z",code="200"} 20');
  });

  test('no replica within the activation timeout: 503 ActivationTimeout with Retry-After, naming the deployment; nothing is sent', async () => {
    const dep = deployment([], 'slow');
    dep.desired = 0;
    const r = await router({ slow: dep }, 1 << 20, { activationTimeoutMs: 300, maxHeldRequests: 10 });
    const ans = await send(r.port, '/v2/models/slow/infer', Buffer.from('{}'));
    expect(ans.status).toBe(503);
    expect(Number(ans.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const body = JSON.parse(ans.body.toString());
    expect(body.reason).toBe('ActivationTimeout');
    expect(body.error).toContain('ModelDeployment default/slow');
    expect(dep.activations).toBe(1);
    await settled(r.inflight, dep.meter);
    expect([r.gateway.hold.heldTotal, dep.meter.inflight]).toEqual([0, 0]);
  });

  test('a deployment at zero by its spec.replicas (not autoscaled to zero) is answered 503 ScaledToZero, not held', async () => {
    const dep = deployment([], 'off');
    dep.desired = 0;
    dep.activatable = false;
    const r = await router({ off: dep });
    const ans = await send(r.port, '/v2/models/off/infer', Buffer.from('{}'));
    expect(ans.status).toBe(503);
    expect(JSON.parse(ans.body.toString())).toMatchObject({ reason: 'ScaledToZero', error: expect.stringContaining('spec.replicas 0') });
    expect(r.gateway.hold.heldTotal).toBe(0);
  });

  test('a full hold queue answers 503 HoldQueueFull; a client that leaves while held is dropped from the queue', async () => {
    const dep = deployment([], 'q');
    dep.desired = 0;
    const r = await router({ q: dep }, 1 << 20, { activationTimeoutMs: 60_000, maxHeldRequests: 2 });
    const leaving = request({ host: '127.0.0.1', port: r.port, method: 'POST', path: '/v2/models/q/infer', agent: false });
    leaving.on('error', () => undefined);
    leaving.end('{}');
    await waitFor('first held', () => r.gateway.hold.heldTotal === 1);
    const second = send(r.port, '/v2/models/q/infer', Buffer.from('{}'));
    await waitFor('second held', () => r.gateway.hold.heldTotal === 2);
    const full = await send(r.port, '/v2/models/q/infer', Buffer.from('{}'));
    expect(full.status).toBe(503);
    expect(JSON.parse(full.body.toString())).toMatchObject({ reason: 'HoldQueueFull' });
    leaving.destroy();
    await waitFor('the first dropped', () => r.gateway.hold.heldTotal === 1);
    // The deployment now fails: held requests are answered with its reason.
    dep.ready = { status: 'False', reason: 'CrashLoop', message: 'the runtime exits at start' };
    r.changed(dep);
    const failed = await second;
    expect(failed.status).toBe(503);
    expect(failed.headers['modelplane-ready-reason']).toBe('CrashLoop');
    await settled(r.inflight, dep.meter);
    expect([r.gateway.hold.heldTotal, dep.meter.inflight, r.inflight.count]).toEqual([0, 0, 0]);
  });
});

test('with API keys on, the key headers stay at the gateway: the replica never sees them', async () => {
  const u = await upstream('k-0', (_req, res) => json(res, 200, { ok: true }));
  const seenKeys: string[] = [];
  const keys: Gatekeeper = {
    authorize: (headers) => {
      seenKeys.push(String(headers.authorization ?? headers['x-api-key']));
      return undefined;
    },
    visible: () => () => true,
  };
  const r = await router({ m: deployment([u.replica]) }, 1 << 20, undefined, keys);
  expect((await send(r.port, '/v2/models/m/infer', Buffer.from('{}'), { Authorization: 'Bearer mp_secret_key_0000000001', 'X-Trace': 't' })).status).toBe(200);
  expect((await send(r.port, '/v2/models/m/infer', Buffer.from('{}'), { 'x-api-key': 'mp_secret_key_0000000002' })).status).toBe(200);
  expect(seenKeys).toEqual(['Bearer mp_secret_key_0000000001', 'mp_secret_key_0000000002']);
  expect(u.seen.map((s) => [s.headers.authorization, s.headers['x-api-key'], s.headers['x-trace']])).toEqual([[undefined, undefined, 't'], [undefined, undefined, undefined]]);
});
