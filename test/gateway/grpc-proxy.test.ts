// The gateway's gRPC path on real `modelplane serve` processes over real HTTP/2 on loopback, driven by a grpc-js
// client: calls routed by model to the least-loaded replica and answered as the replica answers them, the stream,
// the calls the gateway answers itself, its refusals with their status codes and reason trailers, the retry on
// another replica when the first cannot be reached, the message size limit and the exchange meters.
import { Agent } from 'node:http';
import { readFileSync } from 'node:fs';
import { constants as h2, createServer, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { simpleModel } from '../../examples/onnx-models.js';
import type { Acquired, UpstreamWaiter } from '../../gateway/balance.js';
import type { Directory, Outcome, Target, Upstream } from '../../gateway/directory.js';
import { createGrpcGateway, type GrpcGateway, type GrpcGatewayOptions } from '../../gateway/grpc-proxy.js';
import { grpcClient, grpcError, type GrpcClient, type Message } from '../support/grpc-client.js';
import { memoryLogger } from '../support/memory-logger.js';
import { waitFor } from '../support/wait-for.js';
import { freePort, modelFile, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';

const dir = tempDir();

interface Replica {
  rt: RuntimeProcess;
  upstream: Upstream;
  client: GrpcClient;
}

async function startReplica(id: string, modelPath: string): Promise<Replica> {
  const grpcPort = await freePort();
  const rt = await startRuntime(['--model', modelPath, '--grpc-port', String(grpcPort), '--log-level', 'warn']);
  const upstream: Upstream = { id, host: '127.0.0.1', port: rt.port, grpcPort, inflight: 0, agent: new Agent({ keepAlive: true }) };
  return { rt, upstream, client: grpcClient(grpcPort) };
}

/** A target with a fixed list of replicas, and the exchanges its observer heard of. */
function target(model: string, upstreams: Upstream[], desiredReplicas = upstreams.length): Target & { ended: Outcome[]; begun: number } {
  const t = {
    namespace: 'default',
    name: `${model}-deployment`,
    model,
    ended: [] as Outcome[],
    begun: 0,
    upstreams: () => upstreams,
    desiredReplicas: () => desiredReplicas,
    readyCondition: () => undefined,
    activate: () => true,
    observer: {
      begin: () => void t.begun++,
      end: (outcome: Outcome) => void t.ended.push(outcome),
    },
  };
  return t;
}

function directory(...targets: Target[]): Directory {
  return {
    lookup: (model) => targets.find((t) => t.model === model),
    list: () => targets,
    subscribe() {},
  };
}

/** A waiter that gives up at once, as the hold queue does when its activation timeout passes. */
const waiter: UpstreamWaiter = {
  acquire(t, done: (r: Acquired) => void) {
    done({ status: 503, reason: 'ActivationTimeout', message: `no replica of ${t.model} became ready`, retryAfterSeconds: 2 });
    return { cancel() {} };
  },
};

const gateways: GrpcGateway[] = [];
const clients: GrpcClient[] = [];
const portOf = new Map<GrpcClient, number>();

async function gateway(dirOf: Directory, opts: Partial<GrpcGatewayOptions> = {}): Promise<GrpcClient> {
  const g = createGrpcGateway({ directory: dirOf, waiter, version: '9.9.9', ...opts });
  gateways.push(g);
  const port = await g.listen(0, '127.0.0.1');
  const client = grpcClient(port);
  portOf.set(client, port);
  clients.push(client);
  return client;
}

let a: Replica;
let b: Replica;
/** The gRPC port of a runtime that was started and then killed: nothing listens there. */
let deadPort: number;
let simple: ReturnType<typeof target>;
let exchanges: { model: string; outcome: Outcome; upstream?: string }[];
let gw: GrpcClient;

beforeAll(async () => {
  const path = modelFile(dir.path, 'simple', simpleModel());
  const [ra, rb, dead] = await Promise.all([startReplica('replica-a', path), startReplica('replica-b', path), startReplica('replica-dead', path)]);
  [a, b] = [ra, rb];
  dead.client.close();
  await dead.rt.stop('SIGKILL');
  deadPort = dead.upstream.grpcPort!;
  simple = target('simple', [a.upstream, b.upstream]);
  exchanges = [];
  gw = await gateway(directory(simple, target('idle', [], 0)), {
    onExchange: (t, outcome, _s, u) => void exchanges.push({ model: t.model, outcome, upstream: u?.id }),
  });
});

afterAll(async () => {
  for (const c of [...clients, a?.client, b?.client]) c?.close();
  await Promise.all(gateways.map((g) => g.close()));
  await Promise.all([a?.rt.stop(), b?.rt.stop()]);
  dir.remove();
});

const f32 = (xs: ArrayLike<number>) => Buffer.from(new Float32Array(xs).buffer);

function simpleRequest(seed: number, id: string, rows = 1): Message {
  const x = Array.from({ length: 16 * rows }, (_, i) => seed + i * 0.25);
  const y = Array.from({ length: 16 * rows }, (_, i) => (i % 50) - seed);
  return {
    model_name: 'simple',
    id,
    inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [rows, 16] }, { name: 'INPUT1', datatype: 'FP32', shape: [rows, 16] }],
    raw_input_contents: [f32(x), f32(y)],
  };
}

function callWith(client: GrpcClient, method: string, request: Message, metadata: Record<string, string>): Promise<Message> {
  const md = new Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve, reject) => {
    client.raw[method](request, md, { deadline: Date.now() + 20_000 }, (err: ServiceError | null, res: Message) => (err ? reject(err) : resolve(res)));
  });
}

describe('routed by model', () => {
  test('ModelInfer from concurrent callers answers each exactly as a replica does directly', async () => {
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
    const [through, direct] = await Promise.all([
      Promise.all(seeds.map((s) => gw.call('ModelInfer', simpleRequest(s, `r${s}`)))),
      Promise.all(seeds.map((s) => a.client.call('ModelInfer', simpleRequest(s, `r${s}`)))),
    ]);
    expect(through.map((r) => r.id)).toEqual(seeds.map((s) => `r${s}`));
    expect(through).toEqual(direct);
    expect(new Set(through.map((r) => Buffer.concat(r.raw_output_contents).toString('hex'))).size).toBe(seeds.length);
  });

  test('messages of megabytes pass both ways, gzip-compressed ones too', async () => {
    const rows = 40_000;
    const gzip = grpcClient(portOf.get(gw)!, { 'grpc.default_compression_algorithm': 2 });
    clients.push(gzip);
    const [plain, compressed, direct] = await Promise.all([
      gw.call('ModelInfer', simpleRequest(3, 'big', rows)),
      gzip.call('ModelInfer', simpleRequest(3, 'big', rows)),
      a.client.call('ModelInfer', simpleRequest(3, 'big', rows)),
    ]);
    // Compared as one string each: jest compares a Buffer byte by byte, slowly.
    const outputs = (r: Message) => r.raw_output_contents.map((b: Buffer) => b.toString('base64'));
    expect(plain.raw_output_contents[0].length).toBe(rows * 16 * 4);
    expect(outputs(plain)).toEqual(outputs(direct));
    expect(outputs(compressed)).toEqual(outputs(direct));
    expect({ ...plain, raw_output_contents: [] }).toEqual({ ...direct, raw_output_contents: [] });
  });

  test('ModelStreamInfer passes every request and answer of a stream', async () => {
    const stream = gw.stream();
    const answers: Message[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: Message) => answers.push(m));
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    for (const s of [10, 11, 12]) stream.write(simpleRequest(s, `s${s}`));
    stream.end();
    await ended;
    const direct = await Promise.all([10, 11, 12].map((s) => a.client.call('ModelInfer', simpleRequest(s, `s${s}`))));
    expect(answers.map((m) => m.error_message)).toEqual(['', '', '']);
    expect(answers.map((m) => m.infer_response)).toEqual(direct);
  });

  test('ModelMetadata, ModelReady, ModelConfig and a named ModelStatistics are the replica\'s answers', async () => {
    for (const [method, req] of [['ModelMetadata', { name: 'simple' }], ['ModelReady', { name: 'simple', version: '1' }], ['ModelConfig', { name: 'simple' }]] as const) {
      expect(await gw.call(method, req)).toEqual(await a.client.call(method, req));
    }
    const stats = await gw.call('ModelStatistics', { name: 'simple' });
    expect(stats.model_stats.map((m: Message) => m.name)).toEqual(['simple']);
  });

  test('a replica\'s own error passes through with its code and reason', async () => {
    const err = await grpcError(gw.call('ModelMetadata', { name: 'simple', version: '7' }));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.metadata.get('modelplane-reason')).toEqual(['VersionNotFound']);
  });

  test('load spreads over both replicas, and in-flight counts return to zero', async () => {
    const before = await Promise.all([a, b].map(async (r) => Number((await r.client.call('ModelStatistics', { name: 'simple' })).model_stats[0].inference_count)));
    exchanges.length = 0;
    await Promise.all(Array.from({ length: 12 }, (_, i) => gw.call('ModelInfer', simpleRequest(i, `l${i}`))));
    const after = await Promise.all([a, b].map(async (r) => Number((await r.client.call('ModelStatistics', { name: 'simple' })).model_stats[0].inference_count)));
    expect(after[0] - before[0]).toBeGreaterThan(0);
    expect(after[1] - before[1]).toBeGreaterThan(0);
    expect(after[0] - before[0] + after[1] - before[1]).toBe(12);
    expect(new Set(exchanges.map((e) => e.upstream))).toEqual(new Set(['replica-a', 'replica-b']));
    expect(exchanges.every((e) => e.model === 'simple' && e.outcome === 'success')).toBe(true);
    expect([a.upstream.inflight, b.upstream.inflight]).toEqual([0, 0]);
    expect(simple.begun).toBe(simple.ended.length);
  });
});

describe('answered by the gateway', () => {
  test('ServerLive, ServerReady, ServerMetadata and the health check', async () => {
    expect(await gw.call('ServerLive')).toEqual({ live: true });
    expect(await gw.call('ServerReady')).toEqual({ ready: true });
    expect(await gw.call('ServerMetadata')).toEqual({ name: 'modelplane', version: '9.9.9', extensions: ['binary_tensor_data', 'statistics'] });
    expect(await gw.check('')).toBe('SERVING');
    expect(await gw.check('inference.GRPCInferenceService')).toBe('SERVING');
    expect((await grpcError(gw.check('other.Service'))).code).toBe(status.NOT_FOUND);
  });

  test('RepositoryIndex lists every model with Triton\'s states; ready: true only the ready ones', async () => {
    const cold = target('cold', [], 1);
    const broken = target('broken', [], 1);
    broken.readyCondition = () => ({ status: 'False', reason: 'ModelLoadFailed', message: 'not an ONNX file' });
    const c = await gateway(directory(simple, cold, broken, target('idle', [], 0)));
    expect(await c.call('RepositoryIndex', {})).toEqual({ models: [
      { name: 'simple', version: '1', state: 'READY', reason: '' },
      { name: 'cold', version: '1', state: 'LOADING', reason: '' },
      { name: 'broken', version: '1', state: 'UNAVAILABLE', reason: 'ModelLoadFailed: not an ONNX file' },
      { name: 'idle', version: '1', state: 'UNAVAILABLE', reason: 'scaled to zero: the next request starts a replica' },
    ] });
    expect(await c.call('RepositoryIndex', { ready: true })).toEqual({ models: [{ name: 'simple', version: '1', state: 'READY', reason: '' }] });
    const named = await grpcError(c.call('RepositoryIndex', { repository_name: 'models' }));
    expect(named.code).toBe(status.UNIMPLEMENTED);
    expect(named.metadata.get('modelplane-reason')).toEqual(['RepositoryNotSupported']);
  });

  test('RepositoryIndex with API keys lists what the key may call, and refuses a call with no key', async () => {
    const c = await gateway(directory(simple, target('idle', [], 0)), {
      visible: (headers) => headers['x-api-key'] === 'team-a'
        ? (m: string) => m === 'idle'
        : { status: 401, reason: 'Unauthenticated', message: 'an API key is required' },
    });
    expect(await callWith(c, 'RepositoryIndex', {}, { 'x-api-key': 'team-a' })).toEqual({ models: [expect.objectContaining({ name: 'idle' })] });
    const refused = await grpcError(c.call('RepositoryIndex', {}));
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(refused.metadata.get('modelplane-reason')).toEqual(['Unauthenticated']);
  });

  test.each(['/grpc.health.v1.Health/Watch', '/other.Service/Call'])('%s is UNIMPLEMENTED', async (path) => {
    const err = await grpcError(new Promise((resolve, reject) => {
      const same = (b: Buffer) => b;
      gw.raw.makeUnaryRequest(path, same, same, Buffer.alloc(0), (e: ServiceError | null, r?: Buffer) => (e ? reject(e) : resolve(r)));
    }));
    expect(err.code).toBe(status.UNIMPLEMENTED);
  });

  test('ServerReady is false while a deployment that wants replicas has none ready, or with no model; true at zero', async () => {
    const c = await gateway(directory(simple, target('cold', [], 1)));
    expect(await c.call('ServerReady')).toEqual({ ready: false });
    expect(await (await gateway(directory())).call('ServerReady')).toEqual({ ready: false });
    expect(await (await gateway(directory(simple, target('idle', [], 0)))).call('ServerReady')).toEqual({ ready: true });
  });

  test('an unknown model is NOT_FOUND, naming it; ModelStatistics of every model is refused', async () => {
    exchanges.length = 0;
    const err = await grpcError(gw.call('ModelInfer', { ...simpleRequest(1, 'x'), model_name: 'nonesuch' }));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toContain('"nonesuch"');
    expect(err.metadata.get('modelplane-reason')).toEqual(['ModelNotFound']);
    expect((await grpcError(gw.call('ModelReady', { name: 'nonesuch' }))).code).toBe(status.NOT_FOUND);
    const all = await grpcError(gw.call('ModelStatistics', {}));
    expect(all.code).toBe(status.INVALID_ARGUMENT);
    expect(all.metadata.get('modelplane-reason')).toEqual(['ModelNameRequired']);
    expect(exchanges).toEqual([]);
  });
});

describe('refusals and failures', () => {
  test('the waiter\'s error is UNAVAILABLE with its reason and retry advice in the trailers', async () => {
    const cold = target('cold', [], 1);
    const c = await gateway(directory(cold));
    const err = await grpcError(c.call('ModelInfer', { ...simpleRequest(1, 'c'), model_name: 'cold' }));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toBe('no replica of cold became ready');
    expect(err.metadata.get('modelplane-reason')).toEqual(['ActivationTimeout']);
    expect(err.metadata.get('grpc-retry-pushback-ms')).toEqual(['2000']);
    expect(cold.ended).toEqual(['rejected']);
  });

  test('the authorization hook\'s refusals are UNAUTHENTICATED and PERMISSION_DENIED; an accepted key is routed', async () => {
    const seen: { model: string; key: unknown }[] = [];
    const c = await gateway(directory(simple), {
      authorize: (headers, model) => {
        seen.push({ model, key: headers['x-api-key'] ?? headers.authorization });
        if (headers.authorization === 'Bearer good' || headers['x-api-key'] === 'good') return undefined;
        return headers.authorization || headers['x-api-key']
          ? { status: 403, reason: 'KeyNotAllowed', message: `this key may not use model ${model}` }
          : { status: 401, reason: 'KeyRequired', message: 'an API key is required' };
      },
    });
    const none = await grpcError(c.call('ModelReady', { name: 'simple' }));
    expect(none.code).toBe(status.UNAUTHENTICATED);
    expect(none.metadata.get('modelplane-reason')).toEqual(['KeyRequired']);
    const wrong = await grpcError(callWith(c, 'ModelInfer', simpleRequest(1, 'w'), { authorization: 'Bearer bad' }));
    expect(wrong.code).toBe(status.PERMISSION_DENIED);
    expect(wrong.details).toBe('this key may not use model simple');
    expect(await callWith(c, 'ModelReady', { name: 'simple' }, { 'x-api-key': 'good' })).toEqual({ ready: true });
    expect(await callWith(c, 'ModelReady', { name: 'simple' }, { authorization: 'Bearer good' })).toEqual({ ready: true });
    expect(seen).toEqual([
      { model: 'simple', key: undefined },
      { model: 'simple', key: 'Bearer bad' },
      { model: 'simple', key: 'good' },
      { model: 'simple', key: 'Bearer good' },
    ]);
  });

  test('a call whose replica refuses the connection is sent to the other replica', async () => {
    const dead: Upstream = { id: 'replica-dead', host: '127.0.0.1', port: 1, grpcPort: deadPort, inflight: 0, agent: new Agent() };
    const live = { ...a.upstream, inflight: 0 };
    const t = target('simple', [dead, live]);
    const { log, entries } = memoryLogger('gateway');
    const used: (string | undefined)[] = [];
    const c = await gateway(directory(t), { logger: log, onExchange: (_t, _o, _s, u) => void used.push(u?.id) });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await c.call('ModelInfer', simpleRequest(i, `d${i}`)));
    expect(answers.map((r) => r.id)).toEqual(['d0', 'd1', 'd2', 'd3']);
    expect(used).toEqual(Array(4).fill('replica-a'));
    const retries = entries.filter((e) => e.message === 'grpc call sent to another replica');
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]).toMatchObject({ failed: 'replica-dead', to: 'replica-a' });
    expect([dead.inflight, live.inflight]).toEqual([0, 0]);
  });

  test('with no other replica, an unreachable one is UNAVAILABLE naming it', async () => {
    const dead: Upstream = { id: 'replica-dead', host: '127.0.0.1', port: 1, grpcPort: deadPort, inflight: 0, agent: new Agent() };
    const t = target('simple', [dead]);
    const c = await gateway(directory(t));
    const err = await grpcError(c.call('ModelInfer', simpleRequest(1, 'u')));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toContain('replica-dead');
    expect(err.metadata.get('modelplane-reason')).toEqual(['UpstreamUnreachable']);
    expect(dead.inflight).toBe(0);
    expect(t.ended).toEqual(['rejected']);
  });

  test('a message over maxMessageBytes is RESOURCE_EXHAUSTED naming the limit', async () => {
    const c = await gateway(directory(simple), { maxMessageBytes: 100 });
    const err = await grpcError(c.call('ModelInfer', simpleRequest(1, 'big')));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain('limit of 100 bytes');
    expect(err.metadata.get('modelplane-reason')).toEqual(['MessageTooLarge']);
    expect(await c.call('ModelReady', { name: 'simple' })).toEqual({ ready: true });
  });
});

test('a client that gives up while its call is held cancels the wait, and the exchange counts as the client\'s', async () => {
  const cancelled: string[] = [];
  const holding: UpstreamWaiter = { acquire: (t) => ({ cancel: () => void cancelled.push(t.model) }) };
  const held = target('simple', [], 0);
  const c = await gateway(directory(held), { waiter: holding });
  const err = await grpcError(c.call('ModelInfer', simpleRequest(1, 'h'), { deadlineMs: 300 }));
  expect(err.code).toBe(status.DEADLINE_EXCEEDED);
  await waitFor('the wait to be cancelled', () => cancelled.length > 0);
  expect(cancelled).toEqual(['simple']);
  expect(held.ended).toEqual(['client_error']);
});

/** Established TCP connections accepted on `port` of this machine's IPv4 loopback (the server side's sockets). */
function connectionsTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).filter((line) => {
    const [, local, , state] = line.trim().split(/\s+/);
    return state === '01' && local?.endsWith(`:${hex}`);
  }).length;
}

test('one connection per replica carries every call; a replica that leaves the directory has it closed', async () => {
  const ups = [a.upstream, b.upstream];
  const t = target('simple', ups);
  let changed: ((t: Target) => void) | undefined;
  const c = await gateway({ ...directory(t), subscribe: (listener) => void (changed = listener) });
  const before = [connectionsTo(a.upstream.grpcPort!), connectionsTo(b.upstream.grpcPort!)];
  await Promise.all(Array.from({ length: 10 }, (_, i) => c.call('ModelInfer', simpleRequest(i, `k${i}`))));
  for (let i = 0; i < 6; i++) await c.call('ModelReady', { name: 'simple' });
  expect([connectionsTo(a.upstream.grpcPort!), connectionsTo(b.upstream.grpcPort!)]).toEqual([before[0] + 1, before[1] + 1]);
  ups.pop();
  changed!(t);
  await waitFor('the connection to the replica that left to close', () => connectionsTo(b.upstream.grpcPort!) === before[1]);
  expect(await c.call('ModelReady', { name: 'simple' })).toEqual({ ready: true });
  expect(connectionsTo(a.upstream.grpcPort!)).toBe(before[0] + 1);
});

test('without a waiter, a deployment with no ready replica is UNAVAILABLE with the reason of its Ready condition', async () => {
  const failing = { ...target('broken', [], 1), readyCondition: () => ({ status: 'False', reason: 'ModelLoadFailed', message: 'ModelLoadFailed: the model file is not ONNX' }) };
  const g = createGrpcGateway({ directory: directory(failing) });
  gateways.push(g);
  const c = grpcClient(await g.listen(0, '127.0.0.1'));
  clients.push(c);
  const err = await grpcError(c.call('ModelReady', { name: 'broken' }));
  expect(err.code).toBe(status.UNAVAILABLE);
  expect(err.details).toBe('no replica of broken-deployment is ready: ModelLoadFailed: the model file is not ONNX');
  expect(err.metadata.get('modelplane-reason')).toEqual(['NoReadyReplica']);
  expect(err.metadata.get('modelplane-ready-reason')).toEqual(['ModelLoadFailed']);
});

test('a unary call a replica never answers ends DEADLINE_EXCEEDED at upstreamTimeoutMs; the gateway\'s counts see every exchange', async () => {
  // A replica that takes calls and never answers them.
  const silent = await fakeReplica(() => {});
  const stuck: Upstream = { id: 'replica-silent', host: '127.0.0.1', port: 1, grpcPort: silent.port, inflight: 0, agent: new Agent() };
  const counted: { model: string; status: number; outcome: Outcome; upstream: boolean }[] = [];
  let begun = 0;
  const stats = {
    begin: () => void begun++,
    end: (t: Target, code: number, outcome: Outcome, seconds?: number) => void counted.push({ model: t.model, status: code, outcome, upstream: seconds !== undefined }),
  };
  const inflight = { count: 0 };
  const c = await gateway(directory(target('simple', [stuck])), { upstreamTimeoutMs: 300, stats, inflight });
  const err = await grpcError(c.call('ModelInfer', simpleRequest(1, 't')));
  expect(err.code).toBe(status.DEADLINE_EXCEEDED);
  expect(err.details).toBe('replica replica-silent of model simple gave no answer within 300 ms');
  expect(err.metadata.get('modelplane-reason')).toEqual(['UpstreamTimeout']);
  await grpcError(c.call('ModelReady', { name: 'nonesuch' }));
  await waitFor('the calls to end at the gateway', () => inflight.count === 0);
  expect(begun).toBe(1);
  expect(counted).toEqual([{ model: 'simple', status: 504, outcome: 'failed', upstream: true }]);
  expect(stuck.inflight).toBe(0);
  await silent.close();
});

/** An HTTP/2 server on a free loopback port standing in for a replica that misbehaves. */
async function fakeReplica(onStream: (stream: ServerHttp2Stream) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer();
  const sessions: ServerHttp2Session[] = [];
  server.on('session', (session) => void sessions.push(session));
  server.on('stream', onStream);
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  return {
    port,
    close: () => new Promise((resolve) => {
      for (const session of sessions) session.destroy();
      server.close(() => resolve());
    }),
  };
}

test('a replica that fails a call after answering its headers: the client gets UNAVAILABLE naming it', async () => {
  const failing = await fakeReplica((stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.on('data', () => stream.close(h2.NGHTTP2_INTERNAL_ERROR));
  });
  const broken: Upstream = { id: 'replica-broken', host: '127.0.0.1', port: 1, grpcPort: failing.port, inflight: 0, agent: new Agent() };
  const t = target('simple', [broken]);
  const c = await gateway(directory(t));
  const err = await grpcError(c.call('ModelInfer', simpleRequest(1, 'f')));
  expect(err.code).toBe(status.UNAVAILABLE);
  expect(err.details).toContain('replica replica-broken of model simple failed');
  expect(err.metadata.get('modelplane-reason')).toEqual(['UpstreamFailed']);
  await waitFor('the exchange to end', () => t.ended.length > 0);
  expect(t.ended).toEqual(['rejected']);
  expect(broken.inflight).toBe(0);
  await failing.close();
});
