// `npm run bench:runtime`: the runtime's speed and memory figures, each a ratio of two measurements taken
// side by side in this run (the real server over loopback HTTP vs raw in-process session.run).
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { credentials, makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { inferenceService } from '../runtime/grpc/proto.js';
import { convNetModel, mlpModel, simpleModel, smallCnnModel, writeModel } from '../examples/onnx-models.js';
import { cpuSeconds, freePort, processCpuSeconds, Targets } from './support.js';

const CLI = new URL('../../bin/modelplane.js', import.meta.url).pathname;
const quick = process.env.BENCH_QUICK === '1';
const seconds = quick ? 3 : 8;
const targets = new Targets();
const report = targets.report.bind(targets);

interface Server {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
  rssKb(): number;
}

async function startServer(model: string, args: string[]): Promise<Server> {
  const port = await freePort();
  // Started as users start it (the bin, with its own node flags), not through this process's node.
  const proc = spawn(CLI, ['serve', '--model', model, '--host', '127.0.0.1', '--http-port', String(port), '--log-level', 'error', '--drain-seconds', '0', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/v2/health/ready`)).status === 200) break;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    proc,
    rssKb: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))![1]),
    stop: () => new Promise((r) => {
      proc.once('exit', () => r());
      proc.kill('SIGTERM');
    }),
  };
}

function binaryBody(name: string, shape: number[], data: Float32Array, outputs: string[]): { body: Buffer; headers: Record<string, string> } {
  const header = JSON.stringify({
    inputs: [{ name, shape, datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
    outputs: outputs.map((o) => ({ name: o, parameters: { binary_data: true } })),
  });
  return { body: Buffer.concat([Buffer.from(header), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]), headers: { 'Inference-Header-Content-Length': String(Buffer.byteLength(header)) } };
}

/** Requests per second from autocannon at the given concurrency; non-2xx answers abort the run. */
async function load(url: string, path: string, body: Buffer, headers: Record<string, string>, connections: number, opts: { duration?: number; amount?: number } = {}): Promise<number> {
  const limit = opts.amount ? { amount: opts.amount } : { duration: opts.duration ?? seconds };
  const r = await autocannon({ url: `${url}${path}`, method: 'POST', body, headers, connections, pipelining: 1, ...limit });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${path}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return r.requests.total / (r.duration || 1);
}

/** Runs per second of raw session.run on feeds, after a warm-up. */
async function rawRuns(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, durationS: number): Promise<{ perSecond: number; latenciesMs: number[] }> {
  for (let i = 0; i < 5; i++) await session.run(feeds);
  const latenciesMs: number[] = [];
  const started = performance.now();
  while (performance.now() - started < durationS * 1000) {
    const t = performance.now();
    await session.run(feeds);
    latenciesMs.push(performance.now() - t);
  }
  return { perSecond: latenciesMs.length / ((performance.now() - started) / 1000), latenciesMs };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** One client, one request at a time, over a kept-alive connection: per-request latency in ms. */
async function sequentialLatencies(url: string, path: string, body: Buffer, headers: Record<string, string>, durationS: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const { hostname, port } = new URL(url);
  const one = () => new Promise<void>((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'POST', agent, headers: { ...headers, 'Content-Length': body.byteLength } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  for (let i = 0; i < 200; i++) await one();
  const out: number[] = [];
  const started = performance.now();
  while (performance.now() - started < durationS * 1000) {
    const t = performance.now();
    await one();
    out.push(performance.now() - t);
  }
  agent.destroy();
  return out;
}

function median(xs: number[]): number {
  return percentile(xs, 50);
}

/**
 * Alternates the measurements in rounds (raw, then each server configuration, then raw again ...) and keeps the
 * median ratio, so a burst of noise on a shared machine moves one round, not the figure.
 */
const ROUNDS = quick ? 1 : 3;
const roundSeconds = quick ? 2 : 4;

async function batchingBench(dir: string): Promise<void> {
  const width = 4096;
  const maxBatch = 32;
  const model = writeModel(join(dir, 'mlp.onnx'), mlpModel(width, 2));
  const x = new Float32Array(width).map((_, i) => ((i % 13) - 6) / 10);
  const { body, headers } = binaryBody('input', [1, width], x, ['output']);
  const session = await ort.InferenceSession.create(model);
  const batchInput = new Float32Array(width * maxBatch);
  for (let i = 0; i < maxBatch; i++) batchInput.set(x, i * width);
  const feeds = { input: new ort.Tensor('float32', batchInput, [maxBatch, width]) };
  const on = await startServer(model, ['--max-batch-size', String(maxBatch), '--max-queue-delay-us', '2000']);
  const off = await startServer(model, ['--max-batch-size', '1']);
  const vsOff: number[] = [];
  const vsRaw: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const rawRows = (await rawRuns(session, feeds, roundSeconds)).perSecond * maxBatch;
    const batched = await load(on.url, '/v2/models/mlp/infer', body, headers, 64, { duration: roundSeconds });
    const unbatched = await load(off.url, '/v2/models/mlp/infer', body, headers, 64, { duration: roundSeconds });
    console.log(`      round ${r + 1}: mlp ${width}x${width}x2, 64 clients: batching on ${batched.toFixed(0)} req/s, off ${unbatched.toFixed(0)} req/s, raw session.run at batch ${maxBatch} ${rawRows.toFixed(0)} rows/s`);
    vsOff.push(batched / unbatched);
    vsRaw.push(batched / rawRows);
  }
  await Promise.all([on.stop(), off.stop(), session.release()]);
  report('batching vs batching off', `${median(vsOff).toFixed(2)}x`, '>= 3x', median(vsOff) >= 3);
  report(`batching vs raw session.run at batch ${maxBatch}`, `${median(vsRaw).toFixed(2)}x`, '>= 0.7x', median(vsRaw) >= 0.7);
}

async function protocolBench(dir: string): Promise<void> {
  const model = writeModel(join(dir, 'convnet.onnx'), convNetModel());
  const img = new Float32Array(3 * 224 * 224).map((_, i) => (i % 255) / 255);
  const session = await ort.InferenceSession.create(model);
  const feeds = { image: new ort.Tensor('float32', img, [1, 3, 224, 224]) };
  const server = await startServer(model, []);
  const bin = binaryBody('image', [1, 3, 224, 224], img, ['features']);
  const jsonBody = Buffer.from(JSON.stringify({ inputs: [{ name: 'image', shape: [1, 3, 224, 224], datatype: 'FP32', data: Array.from(img) }] }));
  const binRatio: number[] = [];
  const jsonRatio: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const raw = (await rawRuns(session, feeds, roundSeconds)).perSecond;
    const binary = await load(server.url, '/v2/models/convnet/infer', bin.body, bin.headers, 4, { duration: roundSeconds });
    const json = await load(server.url, '/v2/models/convnet/infer', jsonBody, { 'Content-Type': 'application/json' }, 4, { duration: roundSeconds });
    console.log(`      round ${r + 1}: convnet 1x3x224x224 FP32, 4 clients: binary ${binary.toFixed(0)} req/s, JSON ${json.toFixed(0)} req/s, raw session.run ${raw.toFixed(0)} runs/s`);
    binRatio.push(binary / raw);
    jsonRatio.push(json / raw);
  }
  await Promise.all([server.stop(), session.release()]);
  report('binary protocol vs raw session.run', `${median(binRatio).toFixed(2)}x`, '>= 0.85x', median(binRatio) >= 0.85);
  console.log(`      JSON protocol vs raw session.run: ${median(jsonRatio).toFixed(2)}x (no target)`);
}

async function latencyBench(dir: string): Promise<void> {
  const model = writeModel(join(dir, 'simple.onnx'), simpleModel());
  const a = new Float32Array(16).map((_, i) => i);
  const session = await ort.InferenceSession.create(model);
  const t = new ort.Tensor('float32', a, [1, 16]);
  const server = await startServer(model, []);
  // The same with every run on a session worker: what the short-run lane on the event loop saves.
  const workerOnly = await startServer(model, ['--inline-run-max-us', '0']);
  const body = Buffer.from(JSON.stringify({ inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, shape: [1, 16], datatype: 'FP32', data: Array.from(a) })) }));
  const above: number[] = [];
  const workerAbove: number[] = [];
  const all: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const raw = await rawRuns(session, { INPUT0: t, INPUT1: t }, roundSeconds / 2);
    const lat = await sequentialLatencies(server.url, '/v2/models/simple/infer', body, { 'Content-Type': 'application/json' }, roundSeconds);
    const workerLat = await sequentialLatencies(workerOnly.url, '/v2/models/simple/infer', body, { 'Content-Type': 'application/json' }, roundSeconds);
    all.push(...lat);
    const p50 = percentile(lat, 50);
    const rawP50 = percentile(raw.latenciesMs, 50);
    console.log(
      `      round ${r + 1}: simple model, 1 client, JSON, default settings: p50 ${p50.toFixed(3)} ms, p99 ${percentile(lat, 99).toFixed(3)} ms; raw session.run p50 ${rawP50.toFixed(3)} ms, p99 ${percentile(raw.latenciesMs, 99).toFixed(3)} ms; ` +
        `every run on a session worker (--inline-run-max-us 0): p50 ${percentile(workerLat, 50).toFixed(3)} ms`,
    );
    above.push(p50 - rawP50);
    workerAbove.push(percentile(workerLat, 50) - rawP50);
  }
  await Promise.all([server.stop(), workerOnly.stop(), session.release()]);
  const p99 = percentile(all, 99);
  report('latency p50 above raw session.run', `+${median(above).toFixed(3)} ms (p99 ${p99.toFixed(3)} ms)`, '<= +0.5 ms', median(above) <= 0.5);
  console.log(`      with every run on a session worker: +${median(workerAbove).toFixed(3)} ms (no target)`);
}

async function stabilityBench(dir: string): Promise<void> {
  const model = writeModel(join(dir, 'simple-stable.onnx'), simpleModel());
  const a = Array.from({ length: 16 }, (_, i) => i);
  const body = Buffer.from(JSON.stringify({ inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, shape: [1, 16], datatype: 'FP32', data: a })) }));
  const server = await startServer(model, []);
  const first = quick ? 2_000 : 10_000;
  const total = quick ? 20_000 : 200_000;
  await load(server.url, '/v2/models/simple-stable/infer', body, {}, 8, { amount: first });
  const early = server.rssKb();
  await load(server.url, '/v2/models/simple-stable/infer', body, {}, 8, { amount: total - first });
  const late = server.rssKb();
  await server.stop();
  const growth = late / early - 1;
  console.log(`      resident memory after ${first} requests ${(early / 1024).toFixed(1)} MiB, after ${total} ${(late / 1024).toFixed(1)} MiB`);
  report(`memory growth over ${total} requests`, `${(growth * 100).toFixed(1)}%`, '<= 10%', growth <= 0.1);
}

/**
 * ModelInfer calls per second from `clients` concurrent callers, each on its own channel (connection). The
 * request is encoded once and answers are not decoded, as autocannon sends one prebuilt HTTP body: the load
 * generator shares the cores with the server, and what is measured is the server.
 */
async function grpcLoad(port: number, request: object, clients: number, durationS: number): Promise<number> {
  const method = inferenceService().definition.ModelInfer;
  const encoded = method.requestSerialize(request);
  const Service = makeGenericClientConstructor({ ModelInfer: { ...method, requestSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, 'inference.GRPCInferenceService');
  const channels = Array.from({ length: clients }, () => new Service(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as Client & Record<string, any>);
  const one = (c: Client & Record<string, any>) => new Promise<void>((resolve, reject) => {
    c.ModelInfer(encoded, { deadline: Date.now() + 30_000 }, (err: ServiceError | null) => (err ? reject(err) : resolve()));
  });
  for (const c of channels) for (let i = 0; i < 5; i++) await one(c);
  let count = 0;
  const started = performance.now();
  const end = started + durationS * 1000;
  await Promise.all(channels.map(async (c) => {
    while (performance.now() < end) {
      await one(c);
      count++;
    }
  }));
  const perSecond = count / ((performance.now() - started) / 1000);
  for (const c of channels) c.close();
  return perSecond;
}

async function grpcBench(dir: string): Promise<void> {
  // The conv net on a 1x3x48x192 input (a text-line crop): small enough that transport costs show.
  const g = convNetModel();
  const model = writeModel(join(dir, 'convnet-48x192.onnx'), { ...g, inputs: [{ ...g.inputs[0], shape: ['batch', 3, 48, 192] }] });
  const shape = [1, 3, 48, 192];
  const img = new Float32Array(3 * 48 * 192).map((_, i) => (i % 255) / 255);
  const session = await ort.InferenceSession.create(model);
  const feeds = { image: new ort.Tensor('float32', img, shape) };
  const grpcPort = await freePort();
  const server = await startServer(model, ['--grpc-port', String(grpcPort)]);
  const bin = binaryBody('image', shape, img, ['features']);
  const request = { model_name: 'convnet-48x192', inputs: [{ name: 'image', datatype: 'FP32', shape }], raw_input_contents: [Buffer.from(img.buffer)] };
  const vsRaw: number[] = [];
  const vsHttp: number[] = [];
  const cpuVsHttp: number[] = [];
  // The server's CPU per request (all its threads), steadier than throughput when the load generator shares the cores.
  const withServerCpu = async (run: () => Promise<number>) => {
    const [cpu, started] = [processCpuSeconds(server.proc.pid!), performance.now()];
    const rate = await run();
    return { rate, cpuMs: ((processCpuSeconds(server.proc.pid!) - cpu) * 1000) / (rate * ((performance.now() - started) / 1000)) };
  };
  for (let r = 0; r < ROUNDS; r++) {
    const raw = (await rawRuns(session, feeds, roundSeconds)).perSecond;
    const http = await withServerCpu(() => load(server.url, '/v2/models/convnet-48x192/infer', bin.body, bin.headers, 4, { duration: roundSeconds }));
    const grpc = await withServerCpu(() => grpcLoad(grpcPort, request, 4, roundSeconds));
    console.log(`      round ${r + 1}: convnet 1x3x48x192 FP32, 4 clients: gRPC ${grpc.rate.toFixed(0)} req/s, HTTP binary ${http.rate.toFixed(0)} req/s, raw session.run ${raw.toFixed(0)} runs/s; server CPU per request gRPC ${grpc.cpuMs.toFixed(2)} ms, HTTP ${http.cpuMs.toFixed(2)} ms`);
    vsRaw.push(grpc.rate / raw);
    vsHttp.push(grpc.rate / http.rate);
    cpuVsHttp.push(grpc.cpuMs / http.cpuMs);
  }
  await Promise.all([server.stop(), session.release()]);
  report('gRPC (raw_input_contents) vs raw session.run', `${median(vsRaw).toFixed(2)}x`, '>= 0.85x', median(vsRaw) >= 0.85);
  report('gRPC vs HTTP binary', `${median(vsHttp).toFixed(2)}x`, '>= 0.9x', median(vsHttp) >= 0.9);
  console.log(`      gRPC server CPU per request vs HTTP binary: ${median(cpuVsHttp).toFixed(2)}x (no target)`);
}

/** The main thread's share: the HTTP server, protocol parsing and the scheduler run there. */
const mainThreadCpuSeconds = (pid: number) => cpuSeconds(`/proc/${pid}/task/${pid}/stat`);

/** `count` requests one after another over one kept-alive connection. */
async function sequentialRequests(url: string, path: string, body: Buffer, headers: Record<string, string>, count: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const { hostname, port } = new URL(url);
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = request({ hostname, port, path, method: 'POST', agent, headers: { ...headers, 'Content-Length': body.byteLength } }, (res) => {
        res.on('data', () => {});
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
  agent.destroy();
}

/**
 * What serving adds to each request in CPU time, which a load generator sharing the cores cannot blur: the
 * server process's CPU time per request (all threads, from /proc) minus raw session.run's CPU time per run, on
 * one intra-op thread each so that no thread pool spins.
 */
async function overheadBench(dir: string): Promise<void> {
  const model = writeModel(join(dir, 'small-cnn.onnx'), smallCnnModel());
  const shape = [1, 3, 48, 192];
  const img = new Float32Array(3 * 48 * 192).map((_, i) => ((i * 7) % 255) / 255);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const feeds = { image: new ort.Tensor('float32', img, shape) };
  const server = await startServer(model, ['--intra-op-threads', '1']);
  const workerOnly = await startServer(model, ['--intra-op-threads', '1', '--inline-run-max-us', '0']);
  const { body, headers } = binaryBody('image', shape, img, ['features']);
  // The floor: plain node:http doing only this request's HTTP work (the same body in, an answer of the same
  // size out), started with the bin's node flags.
  const outputBytes = ((await session.run(feeds)).features.data as Float32Array).byteLength;
  const bare = await startTrivial('body', [String(outputBytes)], ['--max-semi-space-size=2']);
  const count = quick ? 500 : 2000;
  const path = '/v2/models/small-cnn/infer';
  await sequentialRequests(server.url, path, body, headers, 1000);
  await sequentialRequests(bare.url, path, body, headers, 1000);
  await sequentialRequests(workerOnly.url, path, body, headers, 1000);
  const perRequest: number[] = [];
  const perRun: number[] = [];
  const perBare: number[] = [];
  const perWorkerOnly: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < 50; i++) await session.run(feeds);
    const rawStart = process.cpuUsage();
    for (let i = 0; i < count; i++) await session.run(feeds);
    const rawCpu = process.cpuUsage(rawStart);
    const run = (rawCpu.user + rawCpu.system) / 1e6 / count;
    const pid = server.proc.pid!;
    const before = processCpuSeconds(pid);
    const mainBefore = mainThreadCpuSeconds(pid);
    await sequentialRequests(server.url, path, body, headers, count);
    const request = (processCpuSeconds(pid) - before) / count;
    const main = (mainThreadCpuSeconds(pid) - mainBefore) / count;
    const bareBefore = processCpuSeconds(bare.proc.pid!);
    await sequentialRequests(bare.url, path, body, headers, count);
    const bareRequest = (processCpuSeconds(bare.proc.pid!) - bareBefore) / count;
    const workerBefore = processCpuSeconds(workerOnly.proc.pid!);
    await sequentialRequests(workerOnly.url, path, body, headers, count);
    const workerRequest = (processCpuSeconds(workerOnly.proc.pid!) - workerBefore) / count;
    console.log(
      `      round ${r + 1}: small CNN 1x3x48x192 FP32 (${body.byteLength} bytes), binary, 1 client, ${count} requests: server CPU ${(request * 1000).toFixed(3)} ms/request ` +
        `(main thread ${(main * 1000).toFixed(3)}, other threads: session worker and V8's GC helpers ${((request - main) * 1000).toFixed(3)}), raw session.run CPU ${(run * 1000).toFixed(3)} ms/run, ` +
        `bare node:http with the same bytes in and out ${(bareRequest * 1000).toFixed(3)} ms/request, every run on a session worker (--inline-run-max-us 0) ${(workerRequest * 1000).toFixed(3)} ms/request`,
    );
    perRequest.push(request);
    perRun.push(run);
    perBare.push(bareRequest);
    perWorkerOnly.push(workerRequest);
  }
  bare.proc.kill('SIGTERM');
  await Promise.all([server.stop(), workerOnly.stop(), session.release()]);
  const above = perRequest.map((x, i) => x - perRun[i]);
  const own = above.map((x, i) => x - perBare[i]);
  report('server CPU per request above raw session.run CPU', `+${(median(above) * 1000).toFixed(3)} ms (server ${(median(perRequest) * 1000).toFixed(3)} ms, raw ${(median(perRun) * 1000).toFixed(3)} ms)`, '<= +0.3 ms', median(above) <= 0.0003);
  console.log(`      of which bare node:http receiving and answering the same bytes: ${(median(perBare) * 1000).toFixed(3)} ms; the runtime's own code, thread hand-offs and their GC: +${(median(own) * 1000).toFixed(3)} ms (no target)`);
  console.log(`      with every run on a session worker: +${((median(perWorkerOnly) - median(perRun)) * 1000).toFixed(3)} ms above raw (server ${(median(perWorkerOnly) * 1000).toFixed(3)} ms; no target)`);
}

/** Throughput of one vs two CPU instances of a single-threaded model (Triton's instance_group count). */
async function instancesBench(dir: string): Promise<void> {
  const model = writeModel(join(dir, 'convnet-instances.onnx'), convNetModel());
  const img = new Float32Array(3 * 224 * 224).map((_, i) => (i % 255) / 255);
  const { body, headers } = binaryBody('image', [1, 3, 224, 224], img, ['features']);
  const path = '/v2/models/convnet-instances/infer';
  const one = await startServer(model, ['--intra-op-threads', '1', '--instances', '1']);
  const two = await startServer(model, ['--intra-op-threads', '1', '--instances', '2']);
  const ratio: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const single = await load(one.url, path, body, headers, 4, { duration: roundSeconds });
    const double = await load(two.url, path, body, headers, 4, { duration: roundSeconds });
    console.log(`      round ${r + 1}: convnet 1x3x224x224, intra-op threads 1, 4 clients: 1 instance ${single.toFixed(1)} req/s, 2 instances ${double.toFixed(1)} req/s`);
    ratio.push(double / single);
  }
  await Promise.all([one.stop(), two.stop()]);
  console.log(`      2 CPU instances vs 1: ${median(ratio).toFixed(2)}x throughput (no target: the load generator shares the cores)`);
}

const benches: Record<string, (dir: string) => Promise<void>> = {
  batching: batchingBench, protocol: protocolBench, latency: latencyBench, stability: stabilityBench, grpc: grpcBench, overhead: overheadBench, instances: instancesBench, express: expressBench,
};

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const dir = mkdtempSync(join(tmpdir(), 'modelplane-bench-'));
  try {
    for (const [name, run] of Object.entries(benches)) {
      if (only.length && !only.includes(name)) continue;
      console.log(`# ${name}`);
      await run(dir);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  targets.summarize();
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});

// express on the control surface, node:http on the inference path: what express costs per request, measured
// as requests/s and as the server's own CPU time per request (from /proc/<pid>/stat), side by side.
const TRIVIAL_SERVER = new URL('./trivial-server.js', import.meta.url).pathname;


async function startTrivial(mode: 'express' | 'direct' | 'body', args: string[] = [], nodeFlags: string[] = []): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...nodeFlags, TRIVIAL_SERVER, mode, String(port), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => proc.stdout!.once('data', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, proc };
}

async function expressBench(): Promise<void> {
  const servers = { express: await startTrivial('express'), direct: await startTrivial('direct') };
  const body = Buffer.from('{"inputs":[]}');
  const rate: Record<string, number[]> = { express: [], direct: [] };
  const cpuMs: Record<string, number[]> = { express: [], direct: [] };
  for (const s of Object.values(servers)) await load(s.url, '/v2/models/m/infer', body, {}, 8, { amount: 2000 });
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of ['direct', 'express'] as const) {
      const s = servers[mode];
      const before = processCpuSeconds(s.proc.pid!);
      const started = performance.now();
      const perSecond = await load(s.url, '/v2/models/m/infer', body, {}, 8, { duration: roundSeconds });
      const requests = perSecond * ((performance.now() - started) / 1000);
      rate[mode].push(perSecond);
      cpuMs[mode].push(((processCpuSeconds(s.proc.pid!) - before) * 1000) / requests);
    }
    console.log(`      round ${r + 1}: trivial POST, 8 clients: node:http ${rate.direct[r].toFixed(0)} req/s (${cpuMs.direct[r].toFixed(3)} ms CPU/request), express ${rate.express[r].toFixed(0)} req/s (${cpuMs.express[r].toFixed(3)} ms CPU/request)`);
  }
  for (const s of Object.values(servers)) s.proc.kill('SIGTERM');
  const ratio = median(rate.direct) / median(rate.express);
  const extra = median(cpuMs.express) - median(cpuMs.direct);
  console.log(`      express vs node:http on a trivial POST: ${ratio.toFixed(2)}x fewer requests/s, +${extra.toFixed(3)} ms CPU per request (${median(cpuMs.express).toFixed(3)} vs ${median(cpuMs.direct).toFixed(3)} ms); inference stays on node:http (no target)`);
}
