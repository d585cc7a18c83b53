// `modelplane perf` against a real `modelplane serve` process over loopback HTTP.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mlpModel, simpleModel } from '../../examples/onnx-models.js';
import { parsePrometheusText } from '../../common/prometheus-text.js';
import { encodeHttpRequest } from '../../perf/http-transport.js';
import { parsePerfConfig } from '../../perf/config.js';
import { buildSamples } from '../../perf/inputs.js';
import { runPerf } from '../../perf/run.js';
import { CLI, freePort, modelFile, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';
import { drawReport } from './browser.js';
import { readResults, runPerfCli } from './perf-cli.js';

const dir = tempDir('modelplane-perf-');
let simple: RuntimeProcess;

beforeAll(async () => {
  simple = await startRuntime(['--model', modelFile(dir.path, 'simple', simpleModel()), '--log-level', 'warn']);
});

afterAll(async () => {
  await simple?.stop();
  dir.remove();
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The documented shape of results.json, checked field by field. */
function expectResultsShape(r: any, mode: 'concurrency' | 'rate'): void {
  expect(Array.isArray(r.steps)).toBe(true);
  for (const s of r.steps) {
    expect(typeof s[mode]).toBe('number');
    expect(s.throughput).toEqual(expect.any(Number));
    for (const p of ['p50', 'p90', 'p95', 'p99', 'max']) expect(s.latencyMs[p]).toEqual(expect.any(Number));
    expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p90);
    expect(s.latencyMs.p90).toBeLessThanOrEqual(s.latencyMs.p95);
    expect(s.latencyMs.p95).toBeLessThanOrEqual(s.latencyMs.p99);
    expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
    expect(typeof s.errors).toBe('object');
    expect(s.errorCount).toBe(Object.values(s.errors as Record<string, number>).reduce((a, b) => a + b, 0));
    expect(s.server).toEqual({ queueMs: expect.any(Number), computeMs: expect.any(Number), batchSize: expect.any(Number) });
  }
}

test('a concurrency sweep writes results.json, results.csv and report.html, with the server breakdown', async () => {
  const out = join(dir.path, 'sweep');
  const run = await runPerfCli(['--url', simple.url, '--model', 'simple', '--concurrency', '1,2,4', '--duration', '500ms', '--warmup', '200ms', '--out', out]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/concurrency 4/);
  const r = readResults(out);
  expectResultsShape(r, 'concurrency');
  expect(r.steps.map((s) => s.concurrency)).toEqual([1, 2, 4]);
  for (const s of r.steps) {
    expect(s.requests).toBeGreaterThan(10);
    expect(s.errorCount).toBe(0);
    expect(s.server!.batchSize).toBeGreaterThanOrEqual(1);
    expect(s.server!.computeMs).toBeGreaterThan(0);
  }
  expect(r.target.inputs).toEqual([
    { name: 'INPUT0', datatype: 'FP32', shape: [1, 16] },
    { name: 'INPUT1', datatype: 'FP32', shape: [1, 16] },
  ]);
  expect(r.verdict).toEqual({ ok: true, exitCode: 0, reasons: [] });
  const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
  expect(csv[0]).toMatch(/^phase,concurrency,rate,/);
  expect(csv.slice(1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual(['step,1', 'step,2', 'step,4']);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  expect(html).not.toMatch(/(src|href)=["']?https?:/);

  // The report as a person sees it: headless Chromium draws every chart, with nothing fetched.
  const drawn = await drawReport(join(out, 'report.html'));
  expect(drawn.outsideRequests).toEqual([]);
  expect(drawn.charts.map((c) => c.id)).toEqual(['latency-throughput', 'latency-percentiles', 'server-breakdown']);
  for (const c of drawn.charts) {
    expect(c.width).toBeGreaterThan(300);
    expect(c.height).toBeGreaterThan(150);
    expect(c.ticks.length).toBeGreaterThan(3);
    for (const s of c.series) {
      expect(s.points).toBe(3);
      expect(s.segments).toBe(3);
    }
  }
  const curve = drawn.charts[0];
  expect(curve.axisLabels).toEqual(['throughput (requests/s)', 'latency (ms)']);
  expect(curve.series.map((s) => s.name)).toEqual(['p50', 'p90', 'p99']);
  expect(curve.series.every((s) => s.length > 0)).toBe(true);
  expect(drawn.charts[1].series.map((s) => s.name)).toEqual(['p50', 'p90', 'p95', 'p99', 'max']);
  expect(drawn.charts[1].ticks).toEqual(expect.arrayContaining(['c=1', 'c=2', 'c=4']));
  expect(drawn.charts[2].series.map((s) => s.name)).toEqual(['client p50', 'server queue', 'server compute']);
  expect(drawn.tables).toBe(1);
  expect(drawn.text).toMatch(/Concurrency sweep/);
});

test('the sweep agrees with autocannon driving the same requests at the same concurrency', async () => {
  const concurrency = 4;
  const seconds = 0.6;
  const rounds = 8;
  // The very bytes perf sends: its request builder on the model's metadata and the same seed.
  const meta = await (await fetch(`${simple.url}/v2/models/simple`)).json();
  const sample = buildSamples(meta.inputs, { INPUT0: [1, 16], INPUT1: [1, 16] }, { kind: 'random' }, 1, 1)[0];
  const { body, headers } = encodeHttpRequest(sample, ['OUTPUT0', 'OUTPUT1'], true);
  // Both run in this process, one after the other, so they meet the same machine.
  const cfg = parsePerfConfig({ url: simple.url, model: 'simple', binary: true, concurrency: String(concurrency), duration: `${seconds}s`, warmup: '100ms' });
  const io = { stdout: () => {}, stderr: () => {}, progress: false, version: 'test' };
  const perf: { rate: number; cpuMs: number }[] = [];
  const cannon: { rate: number; cpuMs: number }[] = [];
  // Many short alternating rounds: the machine's noise comes and goes in seconds, and both sides get the same share.
  for (let round = 0; round < rounds; round++) {
    const step = (await runPerf(cfg, io)).steps[0];
    expect(step.errorCount).toBe(0);
    perf.push({ rate: step.throughput, cpuMs: (step.clientCpu * step.durationS * 1000) / step.requests });
    const cpu0 = process.cpuUsage();
    const a = await autocannon({ url: `${simple.url}/v2/models/simple/infer`, method: 'POST', body, headers, connections: concurrency, pipelining: 1, duration: seconds });
    const cpu = process.cpuUsage(cpu0);
    expect(a.non2xx + a.errors).toBe(0);
    cannon.push({ rate: a.requests.total / a.duration, cpuMs: (cpu.user + cpu.system) / 1000 / a.requests.total });
  }
  const ratio = median(perf.map((p) => p.rate)) / median(cannon.map((c) => c.rate));
  const list = (xs: number[], d: number) => xs.map((x) => x.toFixed(d)).join(', ');
  console.log(
    `concurrency ${concurrency}, binary, ${seconds} s x ${rounds} alternating rounds\n` +
      `  throughput  perf ${list(perf.map((p) => p.rate), 0)} req/s | autocannon ${list(cannon.map((c) => c.rate), 0)} req/s | median ratio ${ratio.toFixed(3)}\n` +
      `  client CPU per request  perf ${list(perf.map((p) => p.cpuMs), 3)} ms | autocannon ${list(cannon.map((c) => c.cpuMs), 3)} ms`,
  );
  // Loose: both share two cores with the server and with whatever else the machine runs.
  expect(ratio).toBeGreaterThan(1 / 3);
  expect(ratio).toBeLessThan(3);
  // CPU time per request is steadier than throughput on a shared machine: perf must cost no more than autocannon does.
  expect(median(perf.map((p) => p.cpuMs)) / median(cannon.map((c) => c.cpuMs))).toBeLessThan(2);
});

test('open loop sends at the asked rate and reports it', async () => {
  const out = join(dir.path, 'open');
  const run = await runPerfCli(['--url', simple.url, '--model', 'simple', '--rate', '50,100', '--duration', '1s', '--warmup', '0', '--out', out]);
  expect(run.code).toBe(0);
  const r = readResults(out);
  expectResultsShape(r, 'rate');
  expect(r.steps.map((s) => s.rate)).toEqual([50, 100]);
  for (const s of r.steps) {
    // Every request due within the step is sent: exactly rate x duration of them.
    expect(s.requests).toBe(s.rate);
    expect(s.backlog).toEqual({ max: expect.any(Number), unsent: 0 });
    expect(s.throughput).toBeGreaterThan(s.rate! * 0.8);
    expect(s.throughput).toBeLessThanOrEqual(s.rate! * 1.02);
  }
  console.log(`open loop: asked 50 and 100 req/s, measured ${r.steps.map((s) => s.throughput).join(' and ')} req/s`);
});

test('a server with a tiny queue: 503 QueueFull counted by reason, exit 5, results still written', async () => {
  const slow = await startRuntime(['--model', modelFile(dir.path, 'slow', mlpModel(1024, 4)), '--max-batch-size', '1', '--max-queue-size', '1', '--log-level', 'error']);
  try {
    const out = join(dir.path, 'tiny-queue');
    const run = await runPerfCli(['--url', slow.url, '--model', 'slow', '--concurrency', '8', '--batch-size', '16', '--duration', '600ms', '--warmup', '0', '--out', out]);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/ErrorRateExceeded: \d+ of \d+ requests failed/);
    const r = readResults(out);
    const s = r.steps[0];
    expect(s.errors['503 QueueFull']).toBeGreaterThan(0);
    expect(Object.keys(s.errors)).toEqual(['503 QueueFull']);
    expect(s.requests - s.errorCount).toBeGreaterThan(0);
    expect(r.verdict.exitCode).toBe(5);
    // The server counted the same refusals.
    const metrics = await (await fetch(`${slow.url}/metrics`)).text();
    const rejected = Number(/modelplane_inference_requests_total\{model="slow",protocol="http",outcome="rejected"\} (\d+)/.exec(metrics)![1]);
    expect(rejected).toBe(s.errors['503 QueueFull']);
    // Tolerated when asked to.
    const lenient = await runPerfCli(['--url', slow.url, '--model', 'slow', '--concurrency', '8', '--batch-size', '16', '--duration', '300ms', '--warmup', '0', '--max-error-rate', '100%', '--quiet']);
    expect(lenient.code).toBe(0);
  } finally {
    await slow.stop();
  }
});

test('a soak reports drift per interval and server memory over time', async () => {
  const out = join(dir.path, 'soak');
  const run = await runPerfCli(['--url', simple.url, '--model', 'simple', '--concurrency', '2', '--soak', '2s', '--soak-interval', '500ms', '--warmup', '200ms', '--max-drift', '100000', '--out', out]);
  expect(run.code).toBe(0);
  const r = readResults(out);
  expect(r.soak!.intervals.length).toBeGreaterThanOrEqual(4);
  expect(r.soak!.intervals[0].driftPct).toEqual({ p50: 0, p99: 0 });
  for (const iv of r.soak!.intervals) {
    expect(iv.requests).toBeGreaterThan(0);
    expect(iv.residentBytes).toBeGreaterThan(10 * 2 ** 20);
  }
  expect(r.soak!.memory.startBytes).toBeGreaterThan(0);
  expect(r.steps).toHaveLength(1);
  expect(r.steps[0].requests).toBe(r.soak!.intervals.reduce((n, iv) => n + iv.requests, 0));
  expect(readFileSync(join(out, 'results.csv'), 'utf8')).toMatch(/\nsoak,2,/);

  const drawn = await drawReport(join(out, 'report.html'));
  expect(drawn.outsideRequests).toEqual([]);
  const byId = Object.fromEntries(drawn.charts.map((c) => [c.id, c]));
  const n = r.soak!.intervals.length;
  expect(byId['soak-latency'].series.map((s) => [s.name, s.points])).toEqual([['p50', n], ['p99', n]]);
  expect(byId['soak-latency'].axisLabels).toEqual(['time (s)', 'latency (ms)']);
  expect(byId['soak-memory'].series).toEqual([{ name: 'RSS', segments: n, length: expect.any(Number), points: n }]);
  expect(byId['soak-memory'].axisLabels).toEqual(['time (s)', 'resident memory (MiB)']);
  expect(byId['soak-throughput'].series.map((s) => s.name)).toEqual(['answers/s', 'errors/s']);
  expect(drawn.text).toMatch(/Median latency drift, last interval against the first/);
});

describe('failures are clear, with their own exit codes', () => {
  test('unreachable server: exit 3', async () => {
    const port = await freePort();
    const run = await runPerfCli(['--url', `http://127.0.0.1:${port}`, '--model', 'simple', '--duration', '200ms']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(new RegExp(`Unreachable: cannot reach http://127.0.0.1:${port}: ECONNREFUSED`));
  });

  test('unknown model: exit 4 with the server\'s answer', async () => {
    const run = await runPerfCli(['--url', simple.url, '--model', 'nope', '--duration', '200ms']);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/ModelUnavailable: GET .*\/v2\/models\/nope answered 404: Request for unknown model: 'nope' is not found/);
  });

  test('a shape the model refuses: exit 2 naming the flag', async () => {
    const run = await runPerfCli(['--url', simple.url, '--model', 'simple', '--shape', 'INPUT0:1,15', '--duration', '200ms']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--shape INPUT0: dimension 1 is 15 but the input requires 16/);
  });

  test('a request the server refuses outright: exit 2 with its status and reason, before any load', async () => {
    const data = join(dir.path, 'bad-input.json');
    writeFileSync(data, JSON.stringify({ data: [{ INPUT0: { content: Array(15).fill(1), shape: [1, 15] }, INPUT1: Array(16).fill(1) }] }));
    const run = await runPerfCli(['--url', simple.url, '--model', 'simple', '--input-data', data, '--duration', '200ms']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/InvalidArgument: the server refused the request perf built for simple \(400 ShapeMismatch\)/);
  });

  test('an --out that cannot be written: exit 2 before any load', async () => {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, '');
    const run = await runPerfCli(['--url', simple.url, '--model', 'simple', '--duration', '10s', '--out', join(file, 'sub')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/InvalidArgument: --out .*a-file\/sub: cannot write there: ENOTDIR/);
    expect(run.stdout).toBe('');
  });

  test('a bad flag: exit 2 naming it', async () => {
    const run = await runPerfCli(['--url', simple.url, '--model', 'simple', '--duration', 'soon']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--duration: must be a duration such as 500ms, 10s, 5m or 1m30s, got "soon"/);
    expect(existsSync(join(dir.path, 'never'))).toBe(false);
  });
});

/** Inference requests the simple runtime has answered so far. */
async function served(): Promise<number> {
  const text = await (await fetch(`${simple.url}/metrics`)).text();
  return parsePrometheusText(text).filter((x) => x.name === 'modelplane_inference_requests_total').reduce((n, x) => n + x.value, 0);
}

test('Ctrl-C ends a soak early and still writes what was measured', async () => {
  const out = join(dir.path, 'interrupted');
  const proc = spawn(process.execPath, [CLI, 'perf', '--url', simple.url, '--model', 'simple', '--soak', '60s', '--soak-interval', '500ms', '--warmup', '0', '--max-drift', '100000', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((r) => proc.once('exit', r));
  // Interrupted once it is sending load (its Ctrl-C handler is in place by then), however long it took to start.
  const before = await served();
  while (proc.exitCode === null && (await served()) < before + 20) await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  proc.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(stderr).toMatch(/stopping \(Ctrl-C again to quit at once\)/);
  const r = readResults(out);
  expect(r.warnings).toContain('stopped early: the figures cover the part of the run that completed');
  expect(r.soak!.durationS).toBeLessThan(30);
  expect(r.steps[0].requests).toBeGreaterThan(0);
});

// A terminal is what progress lines are for: `script` gives perf one (util-linux, on every Debian).
const describeTty = existsSync('/usr/bin/script') ? describe : describe.skip;
describeTty('progress on a terminal', () => {
  const onTty = (extra: string[]) => new Promise<string>((resolve) => {
    const cmd = [process.execPath, CLI, 'perf', '--url', simple.url, '--model', 'simple', '--concurrency', '2', '--duration', '2500ms', '--warmup', '0', ...extra].join(' ');
    const proc = spawn('/usr/bin/script', ['-qefc', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (c) => (out += c));
    proc.once('exit', () => resolve(out));
  });

  test('a line a second with rate, p99, errors and requests in flight', async () => {
    const out = await onTty([]);
    const lines = out.split(/\r?\n/).filter((l) => /^concurrency 2 +\d+\/3s +\d+ req\/s  p99 +[\d.]+ ms  errors 0  in flight \d+$/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(2);
  });

  test('none with --quiet', async () => {
    const out = await onTty(['--quiet']);
    expect(out).not.toMatch(/req\/s  p99/);
    expect(out).toMatch(/concurrency 2 +\d/);
  });
});

test('https: a TLS endpoint with a private CA (NODE_EXTRA_CA_CERTS), load and metadata both over TLS', async () => {
  const { default: selfsigned } = await import('selfsigned');
  const { createServer } = await import('node:https');
  const { request } = await import('node:http');
  const pems = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  const ca = join(dir.path, 'ca.pem');
  writeFileSync(ca, pems.cert);
  let tlsRequests = 0;
  // A TLS-terminating front for the runtime, as an ingress would be.
  const front = createServer({ cert: pems.cert, key: pems.private }, (req, res) => {
    tlsRequests++;
    const up = request(`${simple.url}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (front.address() as { port: number }).port;
    const out = join(dir.path, 'tls');
    const proc = spawn(process.execPath, [CLI, 'perf', '--url', `https://127.0.0.1:${port}`, '--model', 'simple', '--binary', '--concurrency', '2', '--duration', '300ms', '--warmup', '0', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_EXTRA_CA_CERTS: ca },
    });
    let stderr = '';
    proc.stderr!.on('data', (c) => (stderr += c));
    const code = await new Promise<number | null>((r) => proc.once('exit', r));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const step = readResults(out).steps[0];
    expect(step.errorCount).toBe(0);
    expect(step.server).not.toBeNull();
    expect(tlsRequests).toBeGreaterThanOrEqual(step.requests);
  } finally {
    front.closeAllConnections();
    await new Promise((r) => front.close(r));
  }
});
