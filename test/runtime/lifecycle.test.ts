// Batching, back-pressure, health during compute, metrics, drain on SIGTERM and load failures, on real processes.
import { spawnSync } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { encodeModel, mlpModel, simpleModel } from '../../examples/onnx-models.js';
import { CLI, infer, metricValue, modelFile, REPO, startRuntime, tempDir } from '../support/runtime-process.js';

const dir = tempDir();
afterAll(() => dir.remove());

const simplePath = () => modelFile(dir.path, 'simple', simpleModel());
/** Wide enough that one large batch computes for a noticeable time on any machine. */
const slowPath = () => modelFile(dir.path, 'slow', mlpModel(1024, 4));

function simpleRequest(seed: number, rows = 1) {
  const a = Array.from({ length: 16 * rows }, (_, i) => seed + i);
  const b = Array.from({ length: 16 * rows }, (_, i) => i % 3);
  return { body: { id: `s${seed}`, inputs: [{ name: 'INPUT0', shape: [rows, 16], datatype: 'FP32', data: a }, { name: 'INPUT1', shape: [rows, 16], datatype: 'FP32', data: b }] }, sum: a.map((v, i) => v + b[i]) };
}

function slowRequest(rows: number, value = 0.01) {
  const x = new Float32Array(rows * 1024).fill(value);
  return { body: { inputs: [{ name: 'input', shape: [rows, 1024], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }], outputs: [{ name: 'output', parameters: { binary_data: true } }] }, chunks: [new Uint8Array(x.buffer)] };
}

test('concurrent requests are batched and each gets its own answer', async () => {
  const rt = await startRuntime(['--model', simplePath(), '--max-batch-size', '8', '--max-queue-delay-us', '20000', '--log-level', 'warn']);
  try {
    const reqs = Array.from({ length: 64 }, (_, i) => simpleRequest(i * 100, 1 + (i % 2)));
    const answers = await Promise.all(reqs.map((r) => infer(rt.url, 'simple', r.body)));
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      expect(a.json.id).toBe(`s${i * 100}`);
      expect(a.json.outputs[0].shape).toEqual([1 + (i % 2), 16]);
      expect(a.json.outputs[0].data).toEqual(reqs[i].sum);
    });
    const metrics = await (await fetch(`${rt.url}/metrics`)).text();
    const runs = metricValue(metrics, 'modelplane_inference_batch_size_count');
    const rows = metricValue(metrics, 'modelplane_inference_batch_size_sum');
    expect(rows).toBe(96); // 64 requests of 1 or 2 rows (the warm-up run is not a request)
    expect(runs).toBeLessThan(64); // several requests shared a run
  } finally {
    await rt.stop();
  }
});

test('a batch whose outputs do not split is re-run request by request: counted, logged at warn, every answer exact', async () => {
  // OUT = IN stacked on itself along axis 0: both first dimensions are symbolic, so it may be batched, but a batch of
  // n rows answers 2n, which do not split back per request.
  const path = modelFile(dir.path, 'pooled', {
    name: 'pooled',
    inputs: [{ name: 'IN', type: 'FLOAT', shape: ['n', 4] }],
    outputs: [{ name: 'OUT', type: 'FLOAT', shape: ['m', 4] }],
    nodes: [{ op: 'Concat', inputs: ['IN', 'IN'], outputs: ['OUT'], attributes: { axis: 0 } }],
  });
  const rt = await startRuntime(['--model', path, '--max-batch-size', '8', '--max-queue-delay-us', '50000', '--log-level', 'warn']);
  try {
    const rows = Array.from({ length: 24 }, (_, i) => [i, i + 0.5, -1 - i, 2 * i]);
    const answers = await Promise.all(rows.map((row) => infer(rt.url, 'pooled', { inputs: [{ name: 'IN', shape: [1, 4], datatype: 'FP32', data: row }] })));
    answers.forEach((a, i) => expect({ i, status: a.status, shape: a.json.outputs[0].shape, data: a.json.outputs[0].data }).toEqual({ i, status: 200, shape: [2, 4], data: [...rows[i], ...rows[i]] }));
    const metrics = await (await fetch(`${rt.url}/metrics`)).text();
    const fallbacks = metricValue(metrics, 'modelplane_batch_fallbacks_total', 'reason="outputs_not_split"');
    const warned = rt.logLines().filter((l) => l.message === 'batch re-run request by request');
    expect(fallbacks).toBeGreaterThan(0);
    expect(warned.length).toBe(fallbacks);
    expect(warned[0]).toMatchObject({ level: 'warn', model: 'pooled', reason: 'outputs_not_split', requests: expect.any(Number), error: expect.stringMatching(/has first dimension \d+, not the batch's \d+/) });
    expect(metricValue(metrics, 'modelplane_batch_fallbacks_total', 'reason="run_failed"')).toBe(0);
  } finally {
    await rt.stop();
  }
});

test('past the queue limit: 503 with Retry-After at once; accepted requests still get real answers', async () => {
  const rt = await startRuntime(['--model', slowPath(), '--max-batch-size', '1', '--max-queue-size', '2', '--log-level', 'error']);
  try {
    const reqs = Array.from({ length: 12 }, () => slowRequest(64));
    const answers = await Promise.all(reqs.map((r) => infer(rt.url, 'slow', r.body, r.chunks)));
    const refused = answers.filter((a) => a.status === 503);
    const served = answers.filter((a) => a.status === 200);
    expect(refused.length).toBeGreaterThan(0);
    expect(served.length).toBeGreaterThanOrEqual(3);
    expect(refused.length + served.length).toBe(12);
    for (const r of refused) {
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.json).toMatchObject({ reason: 'QueueFull', error: expect.stringMatching(/queue is full/) });
    }
    for (const s of served) expect(s.binary.byteLength).toBe(64 * 1024 * 4);
    const metrics = await (await fetch(`${rt.url}/metrics`)).text();
    expect(metricValue(metrics, 'modelplane_inference_requests_total', 'outcome="rejected"')).toBe(refused.length);
  } finally {
    await rt.stop();
  }
});

test('health, readiness and metrics answer while a long batch computes', async () => {
  const rt = await startRuntime(['--model', slowPath(), '--max-batch-size', '1', '--log-level', 'error']);
  try {
    const big = slowRequest(4096);
    let inferDone = false;
    const running = infer(rt.url, 'slow', big.body, big.chunks).then((r) => {
      inferDone = true;
      return r;
    });
    // Wait until the batch is computing (the request has left the queue), then probe.
    for (let i = 0; i < 200; i++) {
      const m = await (await fetch(`${rt.url}/metrics`)).text();
      if (metricValue(m, 'modelplane_inference_inflight_requests') === 1 && metricValue(m, 'modelplane_inference_queued_requests') === 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const probes = await Promise.all(['/v2/health/live', '/v2/health/ready', '/metrics', '/v2/models/slow'].map((p) => fetch(`${rt.url}${p}`)));
    const answeredDuringCompute = !inferDone;
    expect(probes.map((p) => p.status)).toEqual([200, 200, 200, 200]);
    expect(answeredDuringCompute).toBe(true);
    expect((await running).status).toBe(200);
  } finally {
    await rt.stop();
  }
});

test('metrics: request counts by outcome, latency, queue, compute, batch size, gauges, load time, process', async () => {
  const rt = await startRuntime(['--model', simplePath(), '--log-level', 'error']);
  try {
    await infer(rt.url, 'simple', simpleRequest(1).body);
    await infer(rt.url, 'simple', { inputs: [] });
    const r = await fetch(`${rt.url}/metrics`);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await r.text();
    expect(metricValue(text, 'modelplane_inference_requests_total', 'outcome="success"')).toBe(1);
    expect(metricValue(text, 'modelplane_inference_requests_total', 'outcome="client_error"')).toBe(1);
    for (const name of [
      'modelplane_inference_request_duration_seconds_bucket', 'modelplane_inference_queue_duration_seconds_bucket',
      'modelplane_inference_compute_duration_seconds_bucket', 'modelplane_inference_batch_size_bucket',
      'modelplane_inference_inflight_requests', 'modelplane_inference_queued_requests', 'modelplane_model_load_seconds',
    ]) {
      expect(text).toContain(`${name}{`);
    }
    expect(metricValue(text, 'modelplane_model_load_seconds')).toBeGreaterThan(0);
    expect(metricValue(text, 'modelplane_codec_held_bytes')).toBe(0);
    expect(text).toContain('process_resident_memory_bytes');
    // The manual's table of runtime metrics (docs/runtime.md) names exactly the modelplane_* families /metrics has.
    const page = readFileSync(join(REPO, 'docs', 'runtime.md'), 'utf8');
    const from = page.indexOf('\n## Metrics');
    const to = page.indexOf('\n## ', from + 1);
    const table = page.slice(from, to === -1 ? undefined : to);
    const documented = new Set([...table.matchAll(/`(modelplane_[a-z_]+)`/g)].map((m) => m[1]));
    const exposed = new Set([...text.matchAll(/^# TYPE (modelplane_[a-z_]+) /gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual([...exposed].sort());
  } finally {
    await rt.stop();
  }
});

test('concurrency-seconds: the integral of requests in flight equals the sum of their durations', async () => {
  const rt = await startRuntime(['--model', slowPath(), '--max-batch-size', '1', '--log-level', 'error']);
  try {
    const before = await (await fetch(`${rt.url}/metrics`)).text();
    expect(metricValue(before, 'modelplane_request_concurrency_seconds_total')).toBe(0);
    const big = slowRequest(512);
    const answers = await Promise.all(Array.from({ length: 6 }, () => infer(rt.url, 'slow', big.body, big.chunks)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const text = await (await fetch(`${rt.url}/metrics`)).text();
    const integral = metricValue(text, 'modelplane_request_concurrency_seconds_total');
    const durations = metricValue(text, 'modelplane_inference_request_duration_seconds_sum');
    expect(durations).toBeGreaterThan(0);
    // Each request is in flight exactly as long as its measured duration (both start and end together).
    expect(Math.abs(integral - durations)).toBeLessThan(0.005 + durations * 0.01);
  } finally {
    await rt.stop();
  }
});

test('SIGTERM: ready turns 503 at once, accepted requests finish with real answers, exit 0', async () => {
  const rt = await startRuntime(['--model', slowPath(), '--max-batch-size', '1', '--drain-seconds', '1', '--log-level', 'info']);
  const reqs = Array.from({ length: 4 }, (_, i) => slowRequest(512, 0.01 * (i + 1)));
  const pending = reqs.map((r) => infer(rt.url, 'slow', r.body, r.chunks));
  // Let every request arrive before the signal.
  for (let i = 0; i < 200; i++) {
    const m = await (await fetch(`${rt.url}/metrics`)).text();
    if (metricValue(m, 'modelplane_inference_inflight_requests') === 4) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  rt.proc.kill('SIGTERM');
  let ready = 200;
  for (let i = 0; i < 100 && ready === 200; i++) ready = (await fetch(`${rt.url}/v2/health/ready`)).status;
  expect(ready).toBe(503);
  const answers = await Promise.all(pending);
  const outputs = answers.map((a) => new Float32Array(a.binary.buffer.slice(a.binary.byteOffset, a.binary.byteOffset + a.binary.byteLength)));
  answers.forEach((a) => expect(a.status).toBe(200));
  // Different inputs, different real outputs.
  expect(new Set(outputs.map((o) => o.reduce((n, v) => n + v, 0))).size).toBe(4);
  expect(await rt.exited).toBe(0);
  expect(rt.logLines().map((l) => l.message)).toEqual(expect.arrayContaining(['draining', 'drained']));
});

/** One request on a connection of its own (as a client that kube-proxy still sends to would open). */
function freshConnectionInfer(url: string, body: object): Promise<{ status: number; connection?: string; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = httpRequest(`${url}/v2/models/simple/infer`, { method: 'POST', agent: false, headers: { 'Content-Length': payload.byteLength } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

test('SIGTERM: readiness 503 at once, new connections still served for --drain-seconds, then the listener closes, in-flight work finishes, exit 0', async () => {
  const rt = await startRuntime(['--model', simplePath(), '--drain-seconds', '2', '--log-level', 'info']);
  const signalled = performance.now();
  rt.proc.kill('SIGTERM');
  let ready = 200;
  for (let i = 0; i < 100 && ready === 200; i++) ready = (await fetch(`${rt.url}/v2/health/ready`)).status;
  const readyAfterMs = performance.now() - signalled;
  expect(ready).toBe(503);
  expect((await fetch(`${rt.url}/v2/health/live`)).status).toBe(200);
  // Within the window: new connections, new requests, real answers, told to reconnect elsewhere.
  const during: { status: number; connection?: string; json: any }[] = [];
  for (let i = 0; i < 5; i++) {
    const r = simpleRequest(1000 + i);
    const a = await freshConnectionInfer(rt.url, r.body);
    expect(a.json.outputs[0].data).toEqual(r.sum);
    during.push(a);
    await new Promise((res) => setTimeout(res, 150));
  }
  expect(during.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
  expect(during.every((a) => a.connection === 'close')).toBe(true);
  expect(performance.now() - signalled).toBeLessThan(2000);
  // After the window the listener is closed: new connections are refused, and the process exits 0.
  const code = await rt.exited;
  const exitedAfterMs = performance.now() - signalled;
  console.log(`drain: readiness 503 after ${readyAfterMs.toFixed(0)} ms, ${during.length} requests served in the window, exit after ${exitedAfterMs.toFixed(0)} ms (--drain-seconds 2)`);
  expect(code).toBe(0);
  expect(exitedAfterMs).toBeGreaterThan(1900);
  await expect(freshConnectionInfer(rt.url, simpleRequest(1).body)).rejects.toThrow(/ECONNREFUSED/);
  const messages = rt.logLines().map((l) => l.message);
  expect(messages.indexOf('draining')).toBeLessThan(messages.indexOf('listener closed'));
  expect(messages.indexOf('listener closed')).toBeLessThan(messages.indexOf('drained'));
});

test('SIGINT (Ctrl-C at a terminal) skips the drain window and exits 0', async () => {
  const rt = await startRuntime(['--model', simplePath(), '--drain-seconds', '60', '--log-level', 'info']);
  const t = performance.now();
  rt.proc.kill('SIGINT');
  expect(await rt.exited).toBe(0);
  expect(performance.now() - t).toBeLessThan(30_000);
  expect(rt.logLines().find((l) => l.message === 'draining')?.drainSeconds).toBe(0);
});

test('SIGTERM: a request still computing when the listener closes gets its real answer before exit', async () => {
  const rt = await startRuntime(['--model', slowPath(), '--max-batch-size', '1', '--drain-seconds', '0', '--log-level', 'info']);
  // Compute runs on the runtime's own thread, so the signal is handled between two runs at the latest:
  // with at least 3 requests still in flight when it is sent, at least one is left when the listener closes.
  const reqs = Array.from({ length: 6 }, (_, i) => slowRequest(1024, 0.02 * (i + 1)));
  const pending = reqs.map((r) => infer(rt.url, 'slow', r.body, r.chunks));
  let inflight = 0;
  for (let i = 0; i < 400 && inflight < 3; i++) {
    inflight = metricValue(await (await fetch(`${rt.url}/metrics`)).text(), 'modelplane_inference_inflight_requests') || 0;
    if (inflight < 3) await new Promise((r) => setTimeout(r, 5));
  }
  expect(inflight).toBeGreaterThanOrEqual(3);
  rt.proc.kill('SIGTERM');
  const answers = await Promise.all(pending);
  answers.forEach((a) => expect(a.status).toBe(200));
  const sums = answers.map((a) => new Float32Array(a.binary.buffer.slice(a.binary.byteOffset, a.binary.byteOffset + a.binary.byteLength)).reduce((n, v) => n + v, 0));
  expect(new Set(sums).size).toBe(reqs.length);
  expect(await rt.exited).toBe(0);
  const closed = rt.logLines().find((l) => l.message === 'listener closed');
  console.log(`SIGTERM with ${inflight} in flight: listener closed with ${closed?.inflight} in flight, ${closed?.awaitingFirstRequest} connection(s) awaiting a first request`);
  expect(closed?.inflight).toBeGreaterThan(0);
});

describe('a model that cannot load exits non-zero with a clear message', () => {
  test.each([
    ['missing', () => join(dir.path, 'missing.onnx'), /model not found: .*missing\.onnx does not exist/],
    ['corrupt', () => { const p = join(dir.path, 'corrupt.onnx'); writeFileSync(p, 'not a protobuf at all'); return p; }, /did not load: cpu: .*(protobuf|parse|Load model)/i],
    ['unsupported operator', () => {
      const p = join(dir.path, 'unsupported.onnx');
      writeFileSync(p, encodeModel({ name: 'bad', inputs: [{ name: 'x', type: 'FLOAT', shape: [1] }], outputs: [{ name: 'y', type: 'FLOAT', shape: [1] }], nodes: [{ op: 'NoSuchOperator', inputs: ['x'], outputs: ['y'] }] }));
      return p;
    }, /did not load: cpu: .*NoSuchOperator/],
  ])('%s', async (_name, path, message) => {
    // The kubelet creates the termination log; the runtime only writes into an existing one.
    const termination = join(dir.path, `termination-${_name}`);
    writeFileSync(termination, '');
    const rt = await startRuntime(['--model', path(), '--log-level', 'info'], { waitReady: false, env: { MODELPLANE_TERMINATION_LOG: termination } });
    const code = await rt.exited;
    expect(code).not.toBe(0);
    const error = rt.logLines().find((l) => l.level === 'error');
    expect(error?.message).toMatch(message);
    expect(error?.reason).toBe('ModelLoadFailed');
    expect(readFileSync(termination, 'utf8')).toMatch(/^ModelLoadFailed: /);
    expect(readFileSync(termination, 'utf8')).toMatch(message);
  });
});

describe('--sha256 is checked for a model given as a path, as for a URI', () => {
  const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

  test('a mismatch exits with ModelFetchFailed and both digests, before anything is served', async () => {
    const path = simplePath();
    const termination = join(dir.path, 'termination-sha256');
    writeFileSync(termination, '');
    const rt = await startRuntime(['--model', path, '--sha256', 'ab'.repeat(32), '--log-level', 'info'], { waitReady: false, env: { MODELPLANE_TERMINATION_LOG: termination } });
    expect(await rt.exited).toBe(1);
    const message = new RegExp(`sha256 mismatch for .*simple\\.onnx: expected ${'ab'.repeat(32)}, got ${digest(path)}`);
    expect(rt.logLines().find((l) => l.level === 'error')).toMatchObject({ reason: 'ModelFetchFailed', message: expect.stringMatching(message) });
    expect(readFileSync(termination, 'utf8')).toMatch(/^ModelFetchFailed: sha256 mismatch/);
    expect(rt.logLines().some((l) => l.message === 'model ready')).toBe(false);
  });

  test("the right digest (of a directory's model.onnx) serves", async () => {
    const folder = join(dir.path, 'sha-folder');
    mkdirSync(folder, { recursive: true });
    const file = modelFile(folder, 'model', simpleModel());
    const rt = await startRuntime(['--model', folder, '--name', 'simple', '--sha256', digest(file).toUpperCase(), '--log-level', 'warn']);
    try {
      expect((await infer(rt.url, 'simple', simpleRequest(2).body)).json.outputs[0].data).toEqual(simpleRequest(2).sum);
    } finally {
      await rt.stop();
    }
  });
});

test('an unavailable execution provider falls back along the list, with the reason logged', async () => {
  const rt = await startRuntime(['--model', simplePath(), '--execution-providers', 'cuda,cpu', '--log-level', 'info']);
  try {
    const fallback = rt.logLines().find((l) => l.message === 'execution provider unavailable, falling back');
    expect(fallback).toMatchObject({ provider: 'cuda', reason: expect.any(String) });
    expect(rt.logLines().find((l) => l.message === 'model ready')?.provider).toBe('cpu');
  } finally {
    await rt.stop();
  }
});

test('--model takes a remote URI: fetched into the cache, then served', async () => {
  const bytes = encodeModel(simpleModel());
  const server = createServer((req, res) => {
    if (req.url === '/models/simple.onnx') res.end(Buffer.from(bytes));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const rt = await startRuntime(['--model', `http://127.0.0.1:${port}/models/simple.onnx`, '--cache-dir', join(dir.path, 'cache'), '--log-level', 'warn']);
  try {
    const r = await infer(rt.url, 'simple', simpleRequest(3).body);
    expect(r.json.outputs[0].data).toEqual(simpleRequest(3).sum);
  } finally {
    await rt.stop();
    server.close();
  }
});

test('a fetch destination is served through the manifest fetch wrote, whatever the file is called', async () => {
  const dest = join(dir.path, 'fetched');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dest, { recursive: true });
  writeFileSync(join(dest, 'resnet-v2.onnx'), encodeModel(simpleModel()));
  writeFileSync(join(dest, '.modelplane-fetch.json'), JSON.stringify({ source: 's3://models/resnet-v2', modelPath: 'resnet-v2.onnx', files: [] }));
  for (const model of [dest, join(dest, 'model.onnx')]) {
    const rt = await startRuntime(['--model', model, '--name', 'resnet', '--log-level', 'warn']);
    try {
      const r = await infer(rt.url, 'resnet', simpleRequest(7).body);
      expect(r.json.outputs[0].data).toEqual(simpleRequest(7).sum);
    } finally {
      await rt.stop();
    }
  }
});

test('bad flags are refused with the flag named', () => {
  const r = spawnSync(process.execPath, [CLI, 'serve', '--model', 'x.onnx', '--max-batch-size', 'lots'], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/--max-batch-size: must be an integer from 1 to 4096, got "lots"/);
  const env = spawnSync(process.execPath, [CLI, 'serve', '--model', 'x.onnx'], { encoding: 'utf8', env: { ...process.env, MODELPLANE_EXECUTION_PROVIDERS: 'cuda,tpu' } });
  expect(env.stderr).toMatch(/--execution-providers: unknown provider "tpu"/);
});

test('--help lists the commands and the serve flags with their environment variables', () => {
  const top = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' }).stdout;
  for (const cmd of ['serve', 'fetch']) expect(top).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
  const serve = spawnSync(process.execPath, [CLI, 'serve', '--help'], { encoding: 'utf8' }).stdout;
  for (const flag of ['--model', '--name', '--http-port', '--max-batch-size', '--max-queue-delay-us', '--max-queue-size', '--execution-providers', '--graph-optimization-level', '--intra-op-threads', '--log-level',
    '--max-inflight-bytes', '--headers-timeout-seconds', '--body-timeout-seconds', '--request-timeout-seconds', '--drain-seconds', '--drain-timeout-seconds']) {
    expect(serve).toContain(flag);
  }
  expect(serve.replace(/\s+/g, ' ')).toContain('(env: MODELPLANE_MAX_BATCH_SIZE)');
});
