// `npm run bench:gateway`: what the gateway costs and how it holds, measured in one run. The gateway
// (bench/gateway-process.ts: createGateway's handler over a static directory, in a process of its own) and a minimal
// node:http proxy (bench/minimal-proxy.ts) in front of the same `modelplane serve` replica of the simple model, in
// alternating rounds: added p50 latency of one sequential keep-alive client, and CPU per request (from
// /proc/<pid>/stat) under the same autocannon load, with API keys on as an extra line. Then requests held at zero
// and released in arrival order, and local mode's cold start from zero with 20 requests waiting.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleModel, writeModel } from '../examples/onnx-models.js';
import { CLI, freePort, median, MINIMAL_PROXY, quick, roundWithCpu, sequentialP50, startChild, stopChildren, Targets, type BenchRequest } from './support.js';

const GATEWAY_PROCESS = new URL('./gateway-process.js', import.meta.url).pathname;
const ROUNDS = 3;
const LATENCY_REQUESTS = quick ? 300 : 2000;
const SECONDS = quick ? 2 : 5;
const CONNECTIONS = 16;
const HELD_REQUESTS = 50;
const COLD_START_REQUESTS = 20;
const COLD_START_CYCLES = 3;
const INFER = '/v2/models/simple/infer';
const API_KEY = 'bench-key-0123456789abcdef';
const WIDTH = 16;

const targets = new Targets();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const signed = (ms: number) => `${ms >= 0 ? '+' : ''}${ms.toFixed(3)} ms`;

/** A simple-model request: INPUT0 = [base, base+1, ...], INPUT1 = all `addend`. */
function inferBody(base: number, addend: number): string {
  return JSON.stringify({
    inputs: [
      { name: 'INPUT0', shape: [1, WIDTH], datatype: 'FP32', data: Array.from({ length: WIDTH }, (_, i) => base + i) },
      { name: 'INPUT1', shape: [1, WIDTH], datatype: 'FP32', data: Array(WIDTH).fill(addend) },
    ],
  });
}

/** `modelplane serve` on the simple model, started as users start it (the bin), once it is ready. */
async function startReplica(model: string): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const child = await startChild(CLI, ['serve', '--model', model, '--host', '127.0.0.1', '--http-port', String(port), '--log-level', 'error', '--drain-seconds', '0'], /()/, 1000);
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/health/ready`).then((r) => r.status === 200, () => false);
    if (ok) return { proc: child.proc, port };
    await sleep(50);
  }
  throw new Error(`the replica on port ${port} did not become ready`);
}

const startGateway = (args: string[]) => startChild(process.execPath, [GATEWAY_PROCESS, ...args], /gateway on (http:\/\/\S+)/, 10_000);

interface Measured {
  name: string;
  url: string;
  pid: number;
  headers?: Record<string, string>;
  p50: number[];
  cpuSeconds: number;
  requests: number;
}

/**
 * Alternating rounds over `sides`: sequential p50 (those with `latency`), then an autocannon round each with its CPU;
 * each round starts with the next side, so that none is always measured first or last.
 */
async function measureRounds(sides: Measured[], latency: (m: Measured) => boolean): Promise<void> {
  const body = inferBody(0, 1);
  for (let round = 0; round < ROUNDS; round++) {
    const order = [...sides.slice(round % sides.length), ...sides.slice(0, round % sides.length)];
    for (const m of order.filter(latency)) m.p50.push(await sequentialP50({ url: m.url, path: INFER, body, headers: m.headers }, LATENCY_REQUESTS));
    for (const m of order) {
      const r = await roundWithCpu(m.pid, { url: m.url, path: INFER, body, headers: m.headers } satisfies BenchRequest, CONNECTIONS, SECONDS);
      m.cpuSeconds += r.cpuSeconds;
      m.requests += r.total;
    }
    const p50s = sides.filter(latency).map((m) => `${m.name} ${m.p50[round].toFixed(3)} ms`).join(', ');
    console.log(`round ${round + 1}: p50 ${p50s}`);
  }
}

/** Sections 1 and 2: added p50 latency and CPU per request of the gateway (with and without keys) vs the minimal proxy. */
async function overhead(dir: string, replicaPort: number, procs: ChildProcess[]): Promise<void> {
  const keyFile = join(dir, 'keys.yaml');
  writeFileSync(keyFile, `bench:\n  key: "${API_KEY}"\n  models: ["*"]\n`);
  const floor = await startChild(process.execPath, [MINIMAL_PROXY, String(replicaPort)], /minimal proxy on (http:\/\/\S+)/, 10_000);
  procs.push(floor.proc);
  const gateway = await startGateway([String(replicaPort)]);
  procs.push(gateway.proc);
  const keyed = await startGateway([String(replicaPort), '--api-keys', keyFile]);
  procs.push(keyed.proc);
  const side = (name: string, url: string, pid: number, headers?: Record<string, string>): Measured => ({ name, url, pid, ...(headers ? { headers } : {}), p50: [], cpuSeconds: 0, requests: 0 });
  const sides = [side('minimal proxy', floor.found, floor.proc.pid!), side('gateway', gateway.found, gateway.proc.pid!), side('gateway with API keys', keyed.found, keyed.proc.pid!, { 'x-api-key': API_KEY })];
  console.log(`replica on port ${replicaPort}; ${ROUNDS} alternating rounds, ${LATENCY_REQUESTS} sequential requests and ${SECONDS} s x ${CONNECTIONS} connections each`);
  await measureRounds(sides, (m) => m.name !== 'gateway with API keys');
  const [proxy, plain, withKeys] = sides;
  const added = median(plain.p50.map((x, i) => x - proxy.p50[i]));
  const cpuMs = (m: Measured) => (m.cpuSeconds / m.requests) * 1000;
  console.log(`\np50 latency, one sequential keep-alive client: gateway ${median(plain.p50).toFixed(3)} ms, minimal proxy ${median(proxy.p50).toFixed(3)} ms`);
  console.log(`CPU per request over ${CONNECTIONS} connections: gateway ${cpuMs(plain).toFixed(3)} ms (${plain.requests} requests), minimal proxy ${cpuMs(proxy).toFixed(3)} ms (${proxy.requests}), gateway with API keys ${cpuMs(withKeys).toFixed(3)} ms (${withKeys.requests})`);
  console.log(`with API keys (sha256 of the key per request): ${(cpuMs(withKeys) / cpuMs(proxy)).toFixed(2)}x the minimal proxy's CPU per request, ${((cpuMs(withKeys) - cpuMs(plain)) * 1000).toFixed(1)} µs a request against the gateway without keys (informational)`);
  targets.report('gateway added p50 latency over the minimal proxy', signed(added), '<= +0.2 ms', added <= 0.2);
  const ratio = cpuMs(plain) / cpuMs(proxy);
  targets.report('gateway CPU per request vs the minimal proxy', `${ratio.toFixed(2)}x (${cpuMs(plain).toFixed(3)} vs ${cpuMs(proxy).toFixed(3)} ms)`, '<= 1.1x', ratio <= 1.1);
}

/** An upstream that answers each request with the `seq` of its body, and records the order they arrived in. */
function recordingUpstream(): Promise<{ server: Server; port: number; received: number[] }> {
  const received: number[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { seq } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { seq: number };
      received.push(seq);
      const body = JSON.stringify({ seq });
      res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', String(body.length)]).end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, received })));
}

/** POSTs `{seq}` on a connection of its own; settles with the seq the answer echoes. */
function sendSeq(url: string, seq: number): Promise<number> {
  const body = JSON.stringify({ seq });
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method: 'POST', path: INFER, agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { seq: number }).seq) : reject(new Error(`seq ${seq}: status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function heldNow(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^modelplane_gateway_requests_held\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** Section 4: HELD_REQUESTS requests held at zero one after the other, then released: the upstream sees them in arrival order. */
async function heldInOrder(procs: ChildProcess[]): Promise<void> {
  const upstream = await recordingUpstream();
  try {
    const gateway = await startGateway([String(upstream.port), '--zero']);
    procs.push(gateway.proc);
    const answers: Promise<number>[] = [];
    for (let seq = 0; seq < HELD_REQUESTS; seq++) {
      answers.push(sendSeq(gateway.found, seq));
      for (let i = 0; i < 1000 && (await heldNow(gateway.found)) !== seq + 1; i++) await sleep(5);
    }
    const held = await heldNow(gateway.found);
    await fetch(`${gateway.found}/bench/ready`, { method: 'POST' });
    const echoed = await Promise.all(answers);
    const expected = Array.from({ length: HELD_REQUESTS }, (_, i) => i);
    const inOrder = held === HELD_REQUESTS && upstream.received.join() === expected.join() && echoed.join() === expected.join();
    console.log(`\nheld at zero: ${held} of ${HELD_REQUESTS}; the upstream received ${upstream.received.join(' ')}`);
    targets.report('held requests released in arrival order', inOrder ? `${HELD_REQUESTS} of ${HELD_REQUESTS} in order` : `out of order (or not all held: ${held})`, 'the order they were held in', inOrder);
  } finally {
    upstream.server.close();
    upstream.server.closeAllConnections();
  }
}

interface LocalState {
  deployments: { desiredReplicas: number; replicas: unknown[] }[];
}

async function waitForZero(url: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const state = (await (await fetch(`${url}/api/local`)).json()) as LocalState;
    const d = state.deployments[0];
    if (d && d.desiredReplicas === 0 && d.replicas.length === 0) return;
    await sleep(100);
  }
  throw new Error('local mode did not scale simple to zero within 120 s');
}

/** One request of a cold start: whether OUTPUT0 is INPUT0 + INPUT1. */
async function coldRequest(url: string, i: number): Promise<boolean> {
  const r = await fetch(`${url}${INFER}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: inferBody(i * 100, i) });
  if (r.status !== 200) return false;
  const out = ((await r.json()) as { outputs: { name: string; data: number[] }[] }).outputs.find((o) => o.name === 'OUTPUT0');
  return !!out && out.data.length === WIDTH && out.data.every((v, k) => v === i * 100 + k + i);
}

/** One cycle from zero: COLD_START_REQUESTS at once; seconds to the first answer and to the last, and whether all were right. */
async function coldCycle(url: string): Promise<{ first: number; all: number; correct: number }> {
  const t0 = performance.now();
  let first = 0;
  const results = await Promise.all(Array.from({ length: COLD_START_REQUESTS }, (_, i) => coldRequest(url, i + 1).then((ok) => {
    first ||= performance.now() - t0;
    return ok;
  }, () => false)));
  return { first: first / 1000, all: (performance.now() - t0) / 1000, correct: results.filter(Boolean).length };
}

const COLD_LINE = /cold start: simple answered (?:(\d+) waiting requests|its waiting request) after ([\d.]+) s/g;

/** Section 3: local mode's cold start from zero with requests waiting, COLD_START_CYCLES times. */
async function coldStart(dir: string, model: string, procs: ChildProcess[]): Promise<void> {
  const manifest = join(dir, 'cold.yaml');
  writeFileSync(manifest, `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: simple }
spec:
  model: { uri: "file://${model}" }
  autoscaling: { mode: builtin, minReplicas: 0, maxReplicas: 2, scaleToZeroDelaySeconds: 1 }
`);
  const local = await startChild(process.execPath, [CLI, 'local', '-f', manifest, '--port', '0', '--no-table', '--autoscale-interval', '0.5', '--cache-dir', join(dir, 'cache')], /router on (http:\/\/\S+)/);
  procs.push(local.proc);
  const cycles: { first: number; all: number; correct: number; printed: string }[] = [];
  for (let c = 0; c < COLD_START_CYCLES; c++) {
    await waitForZero(local.found);
    const seen = [...local.output().matchAll(COLD_LINE)].length;
    const cycle = await coldCycle(local.found);
    for (let i = 0; i < 100 && [...local.output().matchAll(COLD_LINE)].length === seen; i++) await sleep(20);
    const line = [...local.output().matchAll(COLD_LINE)][seen];
    const printed = line ? `${line[1] ?? 1} waiting requests after ${line[2]} s` : 'no cold start line';
    cycles.push({ ...cycle, printed });
    console.log(`cold start ${c + 1}: first answer after ${cycle.first.toFixed(3)} s, all ${COLD_START_REQUESTS} after ${cycle.all.toFixed(3)} s, ${cycle.correct} correct; local mode printed: ${printed}`);
  }
  const allCorrect = cycles.every((c) => c.correct === COLD_START_REQUESTS);
  console.log(`cold start in local mode (median of ${COLD_START_CYCLES}): first answer after ${median(cycles.map((c) => c.first)).toFixed(3)} s, all ${COLD_START_REQUESTS} answered after ${median(cycles.map((c) => c.all)).toFixed(3)} s`);
  targets.report('cold start answers correct (OUTPUT0 = INPUT0 + INPUT1)', `${cycles.reduce((n, c) => n + c.correct, 0)} of ${COLD_START_REQUESTS * COLD_START_CYCLES}`, 'all', allCorrect);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'modelplane-bench-gateway-'));
  mkdirSync(join(dir, 'm'));
  const model = writeModel(join(dir, 'm', 'simple.onnx'), simpleModel());
  const procs: ChildProcess[] = [];
  try {
    const replica = await startReplica(model);
    procs.push(replica.proc);
    await overhead(dir, replica.port, procs);
    await heldInOrder(procs);
    await coldStart(dir, model, procs);
    targets.summarize();
  } finally {
    await stopChildren(procs);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
