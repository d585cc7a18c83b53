// `npm run bench:local`: what local mode's router costs, measured side by side in one run against the same
// replica: p50 latency of one sequential client, throughput (autocannon, many connections) and CPU per request,
// through the router, through a minimal node:http proxy (bench/minimal-proxy.ts, the floor for any node:http
// router) and straight to the replica, in alternating rounds.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { simpleModel, writeModel } from '../examples/onnx-models.js';
import { CLI, median, MINIMAL_PROXY, quick, roundWithCpu, sequentialP50, startChild, stopChildren } from './support.js';

const ROUNDS = 3;
const LATENCY_REQUESTS = quick ? 300 : 1500;
const SECONDS = quick ? 2 : 5;
const CONNECTIONS = 16;
const INFER = '/v2/models/simple/infer';

const body = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: Array.from({ length: 16 }, (_, i) => i) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(1) },
  ],
});

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
  const procs: ChildProcess[] = [];
  try {
    const local = await startChild(process.execPath, [CLI, 'local', '-f', join(dir, 'm', 'simple.yaml'), '--port', '0', '--no-table', '--cache-dir', join(dir, 'cache')], /router on (http:\/\/\S+)[^]*all ModelDeployments ready/);
    procs.push(local.proc);
    const router = local.found;
    const proc = local.proc;
    const state = await (await fetch(`${router}/api/local`)).json();
    const replica = `http://127.0.0.1:${state.deployments[0].replicas[0].port}`;
    const replicaPid = state.deployments[0].replicas[0].pid as number;
    const floorChild = await startChild(process.execPath, [MINIMAL_PROXY, String(state.deployments[0].replicas[0].port)], /minimal proxy on (http:\/\/\S+)/, 5_000);
    const floorProc = floorChild.proc;
    procs.push(floorProc);
    const floor = floorChild.found;
    console.log(`router ${router}, minimal proxy ${floor}, replica ${replica}; ${ROUNDS} alternating rounds, ${LATENCY_REQUESTS} sequential requests and ${SECONDS}s x ${CONNECTIONS} connections each`);

    const targets = { direct: { url: replica, pid: replicaPid }, floor: { url: floor, pid: floorProc.pid! }, router: { url: router, pid: proc.pid! } };
    type Target = keyof typeof targets;
    const names = Object.keys(targets) as Target[];
    const p50 = { direct: [] as number[], floor: [] as number[], router: [] as number[] };
    const rps = { direct: [] as number[], floor: [] as number[], router: [] as number[] };
    const cpu = { direct: 0, floor: 0, router: 0 };
    const requests = { direct: 0, floor: 0, router: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of names) p50[t].push(await sequentialP50({ url: targets[t].url, path: INFER, body }, LATENCY_REQUESTS));
      for (const t of names) {
        const r = await roundWithCpu(targets[t].pid, { url: targets[t].url, path: INFER, body }, CONNECTIONS, SECONDS);
        cpu[t] += r.cpuSeconds;
        requests[t] += r.total;
        rps[t].push(r.perSecond);
      }
      console.log(`round ${round + 1}: p50 direct ${p50.direct[round].toFixed(3)} ms, minimal proxy ${p50.floor[round].toFixed(3)} ms, router ${p50.router[round].toFixed(3)} ms; throughput direct ${rps.direct[round].toFixed(0)}/s, minimal proxy ${rps.floor[round].toFixed(0)}/s, router ${rps.router[round].toFixed(0)}/s`);
    }
    const added = (t: Target) => median(p50[t].map((x, i) => x - p50.direct[i]));
    const ratio = (t: Target) => median(rps[t].map((x, i) => x / rps.direct[i]));
    const cpuUs = (t: Target) => (cpu[t] / requests[t]) * 1e6;
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
    await stopChildren(procs);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
