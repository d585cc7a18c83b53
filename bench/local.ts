// `npm run bench:local`: what local mode's router costs, measured side by side in one run against the same
// replica: p50 latency of one sequential client, throughput (autocannon, many connections) and CPU per request,
// through the router, through a minimal node:http proxy (bench/minimal-proxy.ts, the floor for any node:http
// router) and straight to the replica, in alternating rounds.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleModel, writeModel } from '../examples/onnx-models.js';

const CLI = new URL('../../bin/modelplane.js', import.meta.url).pathname;
const MINIMAL_PROXY = new URL('./minimal-proxy.js', import.meta.url).pathname;
const quick = process.env.BENCH_QUICK === '1';
const ROUNDS = 3;
const LATENCY_REQUESTS = quick ? 300 : 1500;
const SECONDS = quick ? 2 : 5;
const CONNECTIONS = 16;

const body = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: Array.from({ length: 16 }, (_, i) => i) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(1) },
  ],
});

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** p50 in ms of `n` sequential requests over one keep-alive connection. */
async function sequentialP50(url: string, n: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const { hostname, port } = new URL(url);
  const one = () => new Promise<number>((resolve, reject) => {
    const t = performance.now();
    const req = request({ host: hostname, port, agent, method: 'POST', path: '/v2/models/simple/infer', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  for (let i = 0; i < 50; i++) await one();
  const lat: number[] = [];
  for (let i = 0; i < n; i++) lat.push(await one());
  agent.destroy();
  return median(lat);
}

async function throughput(url: string): Promise<number> {
  const r = await autocannon({ url: `${url}/v2/models/simple/infer`, method: 'POST', body, headers: { 'Content-Type': 'application/json' }, connections: CONNECTIONS, duration: SECONDS });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return r.requests.total / (r.duration || 1);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'modelplane-bench-local-'));
  mkdirSync(join(dir, 'm'));
  writeModel(join(dir, 'm', 'simple.onnx'), simpleModel());
  writeFileSync(join(dir, 'm', 'simple.yaml'), `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: simple }
spec:
  model: { uri: "file://${dir}/m/simple.onnx" }
  replicas: 1
`);
  const proc = spawn(process.execPath, [CLI, 'local', '-f', join(dir, 'm', 'simple.yaml'), '--port', '0', '--no-table', '--cache-dir', join(dir, 'cache')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  const procs = [proc];
  try {
    let router = '';
    for (let i = 0; i < 600 && !/all ModelDeployments ready/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    router = /router on (http:\/\/\S+)/.exec(out)?.[1] ?? '';
    if (!router) throw new Error(`local mode did not start:\n${out}`);
    const state = await (await fetch(`${router}/api/local`)).json();
    const replica = `http://127.0.0.1:${state.deployments[0].replicas[0].port}`;
    const replicaPid = state.deployments[0].replicas[0].pid as number;
    const floorProc = spawn(process.execPath, [MINIMAL_PROXY, String(state.deployments[0].replicas[0].port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(floorProc);
    let floorOut = '';
    floorProc.stdout!.on('data', (c) => (floorOut += c));
    for (let i = 0; i < 200 && !/minimal proxy on/.test(floorOut); i++) await new Promise((r) => setTimeout(r, 25));
    const floor = /minimal proxy on (http:\/\/\S+)/.exec(floorOut)?.[1];
    if (!floor) throw new Error('the minimal proxy did not start');
    console.log(`router ${router}, minimal proxy ${floor}, replica ${replica}; ${ROUNDS} alternating rounds, ${LATENCY_REQUESTS} sequential requests and ${SECONDS}s x ${CONNECTIONS} connections each`);

    const targets = { direct: { url: replica, pid: replicaPid }, floor: { url: floor, pid: floorProc.pid! }, router: { url: router, pid: proc.pid! } };
    type Target = keyof typeof targets;
    const names = Object.keys(targets) as Target[];
    const p50 = { direct: [] as number[], floor: [] as number[], router: [] as number[] };
    const rps = { direct: [] as number[], floor: [] as number[], router: [] as number[] };
    const ticks = { direct: 0, floor: 0, router: 0 };
    const requests = { direct: 0, floor: 0, router: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of names) p50[t].push(await sequentialP50(targets[t].url, LATENCY_REQUESTS));
      for (const t of names) {
        const before = cpuTicks(targets[t].pid);
        const r = await throughput(targets[t].url);
        ticks[t] += cpuTicks(targets[t].pid) - before;
        requests[t] += r * SECONDS;
        rps[t].push(r);
      }
      console.log(`round ${round + 1}: p50 direct ${p50.direct[round].toFixed(3)} ms, minimal proxy ${p50.floor[round].toFixed(3)} ms, router ${p50.router[round].toFixed(3)} ms; throughput direct ${rps.direct[round].toFixed(0)}/s, minimal proxy ${rps.floor[round].toFixed(0)}/s, router ${rps.router[round].toFixed(0)}/s`);
    }
    const added = (t: Target) => median(p50[t].map((x, i) => x - p50.direct[i]));
    const ratio = (t: Target) => median(rps[t].map((x, i) => x / rps.direct[i]));
    const cpuUs = (t: Target) => (ticks[t] / 100 / requests[t]) * 1e6;
    console.log('');
    console.log('| What | Through the router | Through a minimal node:http proxy | Straight to the replica | Router | Minimal proxy | Target (router) |');
    console.log('|---|---|---|---|---|---|---|');
    console.log(`| p50 latency, one sequential client | ${median(p50.router).toFixed(3)} ms | ${median(p50.floor).toFixed(3)} ms | ${median(p50.direct).toFixed(3)} ms | +${added('router').toFixed(3)} ms | +${added('floor').toFixed(3)} ms | <= +0.2 ms |`);
    console.log(`| Throughput, ${CONNECTIONS} connections | ${median(rps.router).toFixed(0)} req/s | ${median(rps.floor).toFixed(0)} req/s | ${median(rps.direct).toFixed(0)} req/s | ${ratio('router').toFixed(2)}x | ${ratio('floor').toFixed(2)}x | >= 0.9x |`);
    console.log(`| CPU per request (from /proc/<pid>/stat) | ${cpuUs('router').toFixed(0)} µs | ${cpuUs('floor').toFixed(0)} µs | ${cpuUs('direct').toFixed(0)} µs (replica) | ${(cpuUs('router') / cpuUs('direct')).toFixed(2)}x the replica's | ${(cpuUs('floor') / cpuUs('direct')).toFixed(2)}x the replica's | |`);
    console.log(`router CPU per request: ${(cpuUs('router') / cpuUs('floor')).toFixed(2)}x the minimal node:http proxy's on the same load`);
    console.log(`${added('router') <= 0.2 ? 'PASS' : 'FAIL'}  router added p50 latency: +${added('router').toFixed(3)} ms (target <= +0.2 ms)`);
    console.log(`${ratio('router') >= 0.9 ? 'PASS' : 'FAIL'}  throughput through the router: ${ratio('router').toFixed(2)}x straight to the replica (target >= 0.9x)`);
  } finally {
    for (const p of procs) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
