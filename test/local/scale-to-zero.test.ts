// Scale to zero in local mode, as a user runs it: the real CLI, real replica processes, real HTTP through the
// gateway. An idle deployment with minReplicas 0 stops its replicas after scaleToZeroDelaySeconds (status says
// ScaledToZero, an event says so); the next requests are held, a replica starts, and every held request is answered
// (the cold start is printed and on the dashboard); a request that waits longer than --activation-timeout gets 503.
// gRPC through the same gateway (--grpc-port) is held at zero and routed alike. API keys: 401 without a key, 403 for a model the key does not name, 429 over its rate, and a key edit takes effect
// without a restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { simpleModel } from '../../examples/onnx-models.js';
import { grpcClient, type Message } from '../support/grpc-client.js';
import { CLI, modelFile, tempDir } from '../support/runtime-process.js';
import { sleep, waitFor } from '../support/wait-for.js';

interface Local {
  proc: ChildProcess;
  out: () => string;
  url: string;
}

const running: Local[] = [];
const dirs: { remove: () => void }[] = [];

afterEach(async () => {
  for (const l of running.splice(0)) {
    const exited = new Promise((r) => l.proc.once('exit', r));
    l.proc.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    l.proc.kill('SIGKILL');
  }
  for (const d of dirs.splice(0)) d.remove();
});

async function startLocal(args: string[]): Promise<Local> {
  const proc = spawn(process.execPath, [CLI, 'local', '--port', '0', '--no-table', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const local = { proc, out: () => out, url: '' };
  running.push(local);
  local.url = await waitFor(`the router URL in:\n${out}`, () => {
    if (proc.exitCode !== null) throw new Error(`modelplane local exited: ${out}`);
    return /router on (http:\/\/\S+)/.exec(out)?.[1];
  });
  return local;
}

/** A directory with the simple model and a ModelDeployment of it that may scale to zero after `delay` seconds. */
function manifests(delay: number, extra = ''): string {
  const dir = tempDir('modelplane-s2z-');
  dirs.push(dir);
  const model = modelFile(dir.path, 'simple', simpleModel());
  writeFileSync(join(dir.path, 'simple.yaml'), `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: simple }
spec:
  model: { uri: "file://${model}" }
  autoscaling: { mode: builtin, minReplicas: 0, maxReplicas: 2, targetConcurrency: 4, scaleToZeroDelaySeconds: ${delay} }
${extra}`);
  return join(dir.path, 'simple.yaml');
}

interface DeploymentInfo {
  name: string;
  desiredReplicas: number;
  readyReplicas: number;
  replicas: unknown[];
  scaledToZero: boolean;
  coldStarts: { count: number; meanSeconds?: number };
  conditions: { type: string; status: string; reason: string; message: string }[];
  events: { type: string; message: string }[];
}

async function simple(url: string): Promise<DeploymentInfo> {
  const r = await fetch(`${url}/api/local`, { signal: AbortSignal.timeout(5000) });
  return ((await r.json()) as { deployments: DeploymentInfo[] }).deployments.find((d) => d.name === 'simple')!;
}

/** One inference with inputs of its own; resolves to the status, and throws on a wrong 200. */
async function infer(url: string, k: number, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const a = Array.from({ length: 16 }, (_, i) => k * 16 + i);
  const b = Array.from({ length: 16 }, (_, i) => (k + i) % 5);
  const body = { inputs: [{ name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: a }, { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: b }] };
  const r = await fetch(`${url}/v2/models/simple/infer`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers }, signal: AbortSignal.timeout(60_000) });
  const j = (await r.json()) as Record<string, unknown> & { outputs?: { data: number[] }[] };
  if (r.status === 200) expect(j.outputs![0].data).toEqual(a.map((x, i) => x + b[i]));
  return { status: r.status, body: j, headers: r.headers };
}

/** The dashboard's card of simple, as headless Chromium renders it. */
async function card(page: Page, url: string): Promise<{ scaledToZero: string | null; coldStarts: string | null }> {
  await page.goto(`${url}/`);
  await page.waitForSelector('section.deployment[data-name="simple"] b.cold-starts');
  return page.$eval('section.deployment[data-name="simple"]', (e) => ({
    scaledToZero: e.querySelector('.scaled-to-zero')?.textContent ?? null,
    coldStarts: e.querySelector('b.cold-starts')?.textContent ?? null,
  }));
}

const scaledToZero = async (url: string) => {
  const d = await simple(url);
  return d.desiredReplicas === 0 && d.replicas.length === 0 && d;
};

test('an idle deployment scales to zero; 20 concurrent requests on it then are all answered after one cold start', async () => {
  const local = await startLocal(['-f', manifests(2), '--autoscale-interval', '0.5']);
  const zero = await waitFor('scaled to zero', () => scaledToZero(local.url), 60_000);
  expect(zero.scaledToZero).toBe(true);
  expect(zero.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'ScaledToZero' });
  expect(zero.events.map((e) => e.type)).toContain('ScaledToZero');
  const index = await (await fetch(`${local.url}/v2/repository/index`, { method: 'POST' })).json();
  expect(index).toEqual([{ name: 'simple', version: '1', state: 'UNAVAILABLE', reason: expect.stringContaining('scaled to zero') }]);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    expect(await card(page, local.url)).toEqual({ scaledToZero: 'scaled to zero: the next request starts a replica', coldStarts: '0' });

    const answers = await Promise.all(Array.from({ length: 20 }, (_, k) => infer(local.url, k)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(await card(page, local.url)).toEqual({ scaledToZero: null, coldStarts: '1' });
  } finally {
    await browser.close();
  }
  expect(local.out()).toMatch(/cold start: simple is scaled to zero; starting a replica/);
  expect(local.out()).toMatch(/cold start: simple answered \d+ waiting requests after \d+\.\d\d s/);
  const after = await simple(local.url);
  expect(after.coldStarts.count).toBe(1);
  expect(after.coldStarts.meanSeconds).toBeGreaterThan(0);
  expect(after.events.map((e) => e.type)).toContain('ColdStart');
  const metrics = await (await fetch(`${local.url}/metrics`)).text();
  expect(metrics).toContain('modelplane_gateway_cold_starts_total{namespace="default",modeldeployment="simple",model="simple"} 1');
  expect(metrics).toContain('modelplane_gateway_requests_total{namespace="default",modeldeployment="simple",model="simple",code="200"} 20');
  expect(metrics).toContain('modelplane_gateway_requests_held{namespace="default",modeldeployment="simple",model="simple"} 0');
});

test('a request that waits longer than --activation-timeout is answered 503 naming the deployment; the replica still comes up', async () => {
  // A delay long enough for the replica started by the request to come up before an idle deployment goes back to zero.
  const local = await startLocal(['-f', manifests(8), '--autoscale-interval', '0.5', '--activation-timeout', '50ms']);
  await waitFor('scaled to zero', () => scaledToZero(local.url), 60_000);
  const late = await infer(local.url, 1);
  expect(late.status).toBe(503);
  expect(late.body).toMatchObject({ reason: 'ActivationTimeout', error: expect.stringContaining('ModelDeployment default/simple') });
  expect(Number(late.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  await waitFor('the replica started for it', async () => (await simple(local.url)).readyReplicas === 1);
  expect((await infer(local.url, 2)).status).toBe(200);
});

test('API keys: 401 without a key, 403 for a model not named, 429 over the rate with Retry-After; an edit of the file takes effect without a restart', async () => {
  const path = manifests(300, '  replicas: 1');
  const keys = join(path, '..', 'keys.yaml');
  const KEY_A = 'mp_test_key_aaaaaaaaaaaaaaaa';
  const KEY_B = 'mp_test_key_bbbbbbbbbbbbbbbb';
  writeFileSync(keys, `team-a:\n  key: ${KEY_A}\n  models: [simple]\n  requestsPerSecond: 0.2\n  burst: 2\nteam-b:\n  key: ${KEY_B}\n  models: [other]\n`);
  const local = await startLocal(['-f', path, '--api-keys', keys]);
  await waitFor('a ready replica', async () => (await simple(local.url)).readyReplicas === 1);
  const none = await infer(local.url, 1);
  expect(none.status).toBe(401);
  expect(none.body).toMatchObject({ reason: 'MissingApiKey' });
  expect(none.headers.get('www-authenticate')).toBe('Bearer');
  expect((await infer(local.url, 1, { Authorization: 'Bearer mp_not_a_key_at_all_xx' })).body).toMatchObject({ reason: 'InvalidApiKey' });
  const other = await infer(local.url, 1, { 'x-api-key': KEY_B });
  expect(other.status).toBe(403);
  expect(other.body).toMatchObject({ reason: 'ModelNotAllowed' });
  expect((await infer(local.url, 2, { Authorization: `Bearer ${KEY_A}` })).status).toBe(200);
  expect((await infer(local.url, 3, { 'x-api-key': KEY_A })).status).toBe(200);
  const limited = await infer(local.url, 4, { Authorization: `Bearer ${KEY_A}` });
  expect(limited.status).toBe(429);
  expect(limited.body).toMatchObject({ reason: 'RateLimited' });
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  // The index lists what the key may call; without a key it is refused.
  expect((await fetch(`${local.url}/v2/repository/index`, { method: 'POST' })).status).toBe(401);
  expect(await (await fetch(`${local.url}/v2/repository/index`, { method: 'POST', headers: { 'x-api-key': KEY_B } })).json()).toEqual([]);
  // Rotation: team-b may now call simple, with a new key; its old key is gone.
  const KEY_B2 = 'mp_test_key_cccccccccccccccc';
  writeFileSync(keys, `team-a:\n  key: ${KEY_A}\n  models: [simple]\n  requestsPerSecond: 0.2\n  burst: 2\nteam-b:\n  key: ${KEY_B2}\n  models: ["*"]\n`);
  await waitFor('the new key in use', async () => (await infer(local.url, 5, { 'x-api-key': KEY_B2 })).status === 200, 20_000);
  expect((await infer(local.url, 6, { 'x-api-key': KEY_B })).status).toBe(401);
  // Keys never reach the output or the metrics.
  const metrics = await (await fetch(`${local.url}/metrics`)).text();
  expect(metrics).toContain('modelplane_gateway_api_keys_loaded 2');
  for (const key of [KEY_A, KEY_B, KEY_B2]) {
    expect(local.out()).not.toContain(key);
    expect(metrics).not.toContain(key);
  }
});

test('gRPC through local mode\'s gateway (--grpc-port 0): concurrent ModelInfer calls on a deployment at zero are held, then each answered with its own sum', async () => {
  const local = await startLocal(['-f', manifests(2), '--autoscale-interval', '0.5', '--grpc-port', '0']);
  const port = Number(await waitFor('the gRPC address', () => /gRPC on 127\.0\.0\.1:(\d+)/.exec(local.out())?.[1]));
  await waitFor('scaled to zero', () => scaledToZero(local.url), 60_000);
  const f32 = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);
  const client = grpcClient(port);
  try {
    const calls = Array.from({ length: 8 }, (_, k) => {
      const a = Array.from({ length: 16 }, (_, i) => k * 100 + i);
      const b = Array.from({ length: 16 }, (_, i) => (i % 3) - k);
      const req: Message = { model_name: 'simple', id: `c${k}`, inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 16] }, { name: 'INPUT1', datatype: 'FP32', shape: [1, 16] }], raw_input_contents: [f32(a), f32(b)] };
      return client.call('ModelInfer', req, { deadlineMs: 60_000 }).then((res) => ({ res, sum: a.map((x, i) => x + b[i]) }));
    });
    for (const { res, sum } of await Promise.all(calls)) {
      expect(Array.from(new Float32Array(new Uint8Array(res.raw_output_contents[0]).buffer))).toEqual(sum);
    }
    expect(local.out()).toMatch(/cold start: simple answered \d+ waiting requests? after/);
  } finally {
    client.close();
  }
});
