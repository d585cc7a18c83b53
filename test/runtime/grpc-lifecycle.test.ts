// gRPC through the runtime's lifecycle on real processes: health Watch from SERVING to NOT_SERVING, drain with a
// stream open, answers in completion order, back-pressure, and the --grpc-port flag.
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { status, type ClientReadableStream } from '@grpc/grpc-js';
import { mlpModel, simpleModel } from '../../examples/onnx-models.js';
import { grpcClient, grpcError, type Message } from '../support/grpc-client.js';
import { CLI, freePort, metricValue, modelFile, startRuntime, tempDir } from '../support/runtime-process.js';

const dir = tempDir();
afterAll(() => dir.remove());

/** Wide enough that one large batch computes for a noticeable time on any machine. */
const slowPath = () => modelFile(dir.path, 'slow', mlpModel(1024, 4));

function slowRequest(id: string, rows: number, value: number): Message {
  return {
    model_name: 'slow',
    id,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 1024] }],
    raw_input_contents: [Buffer.from(new Float32Array(rows * 1024).fill(value).buffer)],
  };
}

/** Slow requests on the stream when the drain begins: enough work that it spans a second or more. */
const SLOW = 12;

const until = async (cond: () => boolean, what: string, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('SIGTERM with a stream open: health turns NOT_SERVING, in-flight answers arrive, new ones are refused in the stream, then the stream ends OK and the process exits 0', async () => {
  const grpcPort = await freePort();
  // One compute thread, so that the test and the server's own thread keep a core while the model computes.
  const rt = await startRuntime(['--model', slowPath(), '--grpc-port', String(grpcPort), '--max-batch-size', '1', '--intra-op-threads', '1', '--log-level', 'info']);
  const client = grpcClient(grpcPort);
  try {
    const stream = client.stream();
    const watched: string[] = [];
    const duringDrain: Promise<unknown>[] = [];
    const watch: ClientReadableStream<Message> = client.health.Watch({ service: '' });
    watch.on('data', (m: Message) => {
      watched.push(m.status);
      if (m.status !== 'NOT_SERVING') return;
      // At once, while the drain still has work in flight: a new request on the open stream, and probes.
      stream.write(slowRequest('late', 1, 1));
      duringDrain.push(client.check(''), client.call('ServerReady'));
    });
    watch.on('error', () => {});
    await until(() => watched.length > 0, 'the first Watch answer');
    expect(watched).toEqual(['SERVING']);

    const answers: Message[] = [];
    stream.on('data', (m: Message) => answers.push(m));
    const ended = new Promise<{ code: number }>((resolve, reject) => {
      stream.on('status', resolve);
      stream.on('error', reject);
    });
    // The first request computes for a while; a bad one sent after it completes, and is answered, first.
    stream.write(slowRequest('slow0', 1024, 0.01));
    stream.write({ ...slowRequest('bad', 1, 0), inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1023] }], raw_input_contents: [Buffer.alloc(1023 * 4)] });
    for (let i = 1; i < SLOW; i++) stream.write(slowRequest(`slow${i}`, 512, 0.01 * (i + 1)));
    await until(() => answers.length > 0, 'the first stream answer');
    expect(answers[0]).toMatchObject({ error_message: expect.stringMatching(/^inputs\[0\]\.shape\[1\]: is 1023 but input input requires 1024/), infer_response: { id: 'bad' } });

    // Every slow request has reached the server (in flight or answered) before the drain begins. Answered is what the
    // server counts: an answer it has sent may still be on its way to this client, which reads slowly on a busy machine.
    for (let received = 0; received < SLOW;) {
      const text = await (await fetch(`${rt.url}/metrics`)).text();
      received = metricValue(text, 'modelplane_inference_inflight_requests') + metricValue(text, 'modelplane_inference_requests_total', 'protocol="grpc",outcome="success"');
      await new Promise((r) => setTimeout(r, 5));
    }
    rt.proc.kill('SIGTERM');
    const answeredAtSigterm = answers.length;
    expect((await ended).code).toBe(status.OK);
    expect(answeredAtSigterm).toBeLessThan(SLOW + 1); // the drain began with requests still in flight
    expect(watched).toEqual(['SERVING', 'NOT_SERVING']);
    expect(await Promise.all(duringDrain)).toEqual(['NOT_SERVING', { ready: false }]);
    const byId = new Map(answers.map((a) => [a.infer_response.id, a]));
    expect(byId.get('late')?.error_message).toMatch(/^server is shutting down; retry on another replica$/);
    for (let i = 0; i < SLOW; i++) {
      const a = byId.get(`slow${i}`)!;
      expect(a.error_message).toBe('');
      const out = new Float32Array(new Uint8Array(a.infer_response.raw_output_contents[0]).buffer);
      expect(out.length).toBe((i === 0 ? 1024 : 512) * 1024);
      expect(out.some((v) => v !== 0)).toBe(true);
    }
    // Rows of equal inputs give equal outputs; different requests (different values) give different ones.
    const first = (id: string) => new Float32Array(new Uint8Array(byId.get(id)!.infer_response.raw_output_contents[0]).buffer).slice(0, 1024);
    expect(first('slow1')).not.toEqual(first('slow2'));
    expect(answers).toHaveLength(SLOW + 2);
    expect(await rt.exited).toBe(0);
    const messages = rt.logLines().map((l) => l.message);
    expect(messages).toEqual(expect.arrayContaining(['draining', 'drained']));
    expect(messages).not.toContain('drain timed out');
  } finally {
    client.close();
    await rt.stop();
  }
});

test('past the queue limit: UNAVAILABLE at once with retry advice and retry pushback; accepted requests get real answers', async () => {
  const grpcPort = await freePort();
  const rt = await startRuntime(['--model', slowPath(), '--grpc-port', String(grpcPort), '--max-batch-size', '1', '--max-queue-size', '2', '--log-level', 'error']);
  const client = grpcClient(grpcPort);
  try {
    const settled = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => client.call('ModelInfer', slowRequest(`q${i}`, 64, 0.01))));
    const refused = settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason);
    const served = settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<Message>).value);
    expect(refused.length).toBeGreaterThan(0);
    expect(served.length).toBeGreaterThanOrEqual(3);
    for (const e of refused) {
      expect(e.code).toBe(status.UNAVAILABLE);
      expect(e.details).toMatch(/^queue is full \(2 requests waiting\); retry later$/);
      expect(e.metadata.get('modelplane-reason')).toEqual(['QueueFull']);
      expect(e.metadata.get('grpc-retry-pushback-ms')).toEqual(['1000']);
    }
    for (const s of served) expect(s.raw_output_contents[0].byteLength).toBe(64 * 1024 * 4);
    const metrics = await (await fetch(`${rt.url}/metrics`)).text();
    expect(metrics).toContain(`modelplane_inference_requests_total{model="slow",protocol="grpc",outcome="rejected"} ${refused.length}`);
  } finally {
    client.close();
    await rt.stop();
  }
});

test('--grpc-port: off when unset, on from MODELPLANE_GRPC_PORT, refused when out of range', async () => {
  const model = modelFile(dir.path, 'simple', simpleModel());
  const off = await startRuntime(['--model', model, '--log-level', 'info']);
  try {
    expect(off.logLines().filter((l) => l.message === 'listening').map((l) => l.protocol)).toEqual([undefined]);
  } finally {
    await off.stop();
  }
  const grpcPort = await freePort();
  const on = await startRuntime(['--model', model, '--log-level', 'info'], { env: { MODELPLANE_GRPC_PORT: String(grpcPort) } });
  const client = grpcClient(grpcPort);
  try {
    expect(on.logLines().find((l) => l.protocol === 'grpc')).toMatchObject({ message: 'listening', port: grpcPort });
    expect(await client.call('ServerLive')).toEqual({ live: true });
    const bad = await grpcError(client.call('ModelReady', { name: 'simple', version: '2' }));
    expect(bad.code).toBe(status.NOT_FOUND);
  } finally {
    client.close();
    await on.stop();
  }
  // A gRPC port already taken is a fatal start error with the reason, like a taken HTTP port.
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  // Several times: the failure comes while the session worker is still loading the model, and exiting while a
  // thread is inside onnxruntime could abort the process (SIGABRT) instead of exiting 1.
  for (let i = 0; i < 4; i++) {
    const busy = spawnSync(process.execPath, [CLI, 'serve', '--model', model, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', String((taken.address() as AddressInfo).port)], { encoding: 'utf8', env: { ...process.env, MODELPLANE_TERMINATION_LOG: '/nonexistent/termination-log' } });
    expect({ status: busy.status, signal: busy.signal }).toEqual({ status: 1, signal: null });
    expect(busy.stdout + busy.stderr).toMatch(/"reason":"ListenFailed"/);
    expect(busy.stdout + busy.stderr).toMatch(/cannot listen on 127\.0\.0\.1:\d+ \(gRPC\)/);
  }
  taken.close();
  const r = spawnSync(process.execPath, [CLI, 'serve', '--model', 'x.onnx', '--grpc-port', '70000'], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/--grpc-port: must be an integer from 0 to 65535, got "70000"/);
  const help = spawnSync(process.execPath, [CLI, 'serve', '--help'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
  expect(help).toContain('(env: MODELPLANE_GRPC_PORT)');
});
