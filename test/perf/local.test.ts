// perf through local mode's router: the real `modelplane local -f` with one ModelDeployment, its replica a real
// `modelplane serve`, and perf pointed at the router's URL as a user points it; the router's /metrics carries the
// runtime's histograms summed over the replicas, so the server breakdown needs no --metrics-url.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleModel } from '../../examples/onnx-models.js';
import type { PerfResults } from '../../perf/results.js';
import { parsePrometheusText } from '../../common/prometheus-text.js';
import { CLI, modelFile, tempDir } from '../support/runtime-process.js';
import { readResults, runPerfCli, withoutClientCpuWarnings } from './perf-cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dir = tempDir('modelplane-perf-local-');
let proc: ChildProcess;
let exited: Promise<number | null>;
let out = '';
let router = '';
let replicaPort = 0;

beforeAll(async () => {
  const models = join(dir.path, 'models');
  const manifests = join(dir.path, 'manifests');
  mkdirSync(models, { recursive: true });
  mkdirSync(manifests, { recursive: true });
  modelFile(models, 'simple', simpleModel());
  writeFileSync(join(manifests, 'simple.yaml'), `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: simple }
spec:
  model: { uri: "file://${models}/simple.onnx" }
  replicas: 1
  resources: { limits: { cpu: "1" } }
`);
  proc = spawn(process.execPath, [CLI, 'local', '-f', manifests, '--port', '0', '--cache-dir', join(dir.path, 'cache'), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  // The router prints its URL; the deployment is ready when its one replica is.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !replicaPort) {
    if (proc.exitCode !== null) throw new Error(`modelplane local exited:\n${out}`);
    router ||= /router on (http:\/\/\S+)/.exec(out)?.[1] ?? '';
    if (router) {
      const state = await (await fetch(`${router}/api/local`, { signal: AbortSignal.timeout(5000) })).json();
      const d = state.deployments.find((x: { name: string }) => x.name === 'simple');
      if (d?.readyReplicas === 1) replicaPort = d.replicas.find((r: { phase: string }) => r.phase === 'ready').port;
    }
    await sleep(100);
  }
  if (!replicaPort) throw new Error(`simple not ready through the router:\n${out}`);
});

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  dir.remove();
});

function expectValidSweep(r: PerfResults, levels: number[]): void {
  expect(r.steps.map((s) => s.concurrency)).toEqual(levels);
  for (const s of r.steps) {
    expect(s.requests).toBeGreaterThan(5);
    expect(s.throughput).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p99);
    expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
    expect(s.errorCount).toBe(0);
    expect(s.errors).toEqual({});
  }
}

test('a sweep through the router: valid results, no errors, and the server breakdown from the router\'s /metrics', async () => {
  const dest = join(dir.path, 'router');
  const run = await runPerfCli(['--url', router, '--model', 'simple', '--concurrency', '1,4', '--duration', '500ms', '--warmup', '100ms', '--quiet', '--out', dest]);
  expect(withoutClientCpuWarnings(run.stderr)).toBe('');
  expect(run.code).toBe(0);
  const r = readResults(dest);
  expectValidSweep(r, [1, 4]);
  // The router sums the runtime's histograms over its replicas: the breakdown of a single runtime.
  for (const s of r.steps) expect(s.server).toEqual({ queueMs: expect.any(Number), computeMs: expect.any(Number), batchSize: 1 });
  expect(r.serverMetrics).toEqual({ url: `${router}/metrics`, note: null });
  expect(readFileSync(join(dest, 'report.html'), 'utf8')).not.toContain('id="server-note"');
  // With one replica, the router's sums are that replica's own figures.
  const count = (text: string) => parsePrometheusText(text).find((x) => x.name === 'modelplane_inference_compute_duration_seconds_count' && x.labels.model === 'simple')?.value;
  const viaRouter = count(await (await fetch(`${router}/metrics`)).text());
  expect(viaRouter).toBeGreaterThan(0);
  expect(viaRouter).toBe(count(await (await fetch(`http://127.0.0.1:${replicaPort}/metrics`)).text()));
});

test('a soak through the router reports the replicas\' memory per interval', async () => {
  const dest = join(dir.path, 'router-soak');
  const run = await runPerfCli(['--url', router, '--model', 'simple', '--concurrency', '1', '--soak', '1s', '--soak-interval', '500ms', '--warmup', '100ms', '--max-drift', '100000', '--quiet', '--out', dest]);
  expect(withoutClientCpuWarnings(run.stderr)).toBe('');
  expect(run.code).toBe(0);
  const r = readResults(dest);
  expect(r.soak!.intervals.length).toBeGreaterThanOrEqual(2);
  for (const iv of r.soak!.intervals) expect(iv.residentBytes).toBeGreaterThan(10 * 2 ** 20);
});

test('through the router with --metrics-url at the replica: that replica\'s own breakdown', async () => {
  const dest = join(dir.path, 'replica-metrics');
  const metricsUrl = `http://127.0.0.1:${replicaPort}/metrics`;
  const run = await runPerfCli(['--url', router, '--metrics-url', metricsUrl, '--model', 'simple', '--binary', '--concurrency', '2', '--duration', '400ms', '--warmup', '100ms', '--quiet', '--out', dest]);
  expect(withoutClientCpuWarnings(run.stderr)).toBe('');
  expect(run.code).toBe(0);
  const r = readResults(dest);
  expectValidSweep(r, [2]);
  expect(r.steps[0].server).toEqual({ queueMs: expect.any(Number), computeMs: expect.any(Number), batchSize: expect.any(Number) });
  expect(r.serverMetrics).toEqual({ url: metricsUrl, note: null });
});
