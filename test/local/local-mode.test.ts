// `modelplane local` end to end, as a user runs it: the real CLI as a child process, real `modelplane serve`
// replicas, real HTTP through the router, file edits, signals, and the dashboard in headless Chromium.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { mlpModel, sampleRateModel, simpleModel } from '../../examples/onnx-models.js';
import { CLI, modelFile, tempDir } from '../support/runtime-process.js';
import { sleep, waitFor as pollFor } from '../support/wait-for.js';

/** Polls every 100 ms, for up to `timeoutMs`. */
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000) => pollFor(what, check, timeoutMs, 100);

interface Local {
  proc: ChildProcess;
  out: () => string;
  url: string;
  exited: Promise<number | null>;
}

async function startLocal(args: string[], waitForUrl = true): Promise<Local> {
  const proc = spawn(process.execPath, [CLI, 'local', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let url = '';
  if (waitForUrl) {
    for (let i = 0; i < 200 && !url; i++) {
      url = /router on (http:\/\/\S+)/.exec(out)?.[1] ?? '';
      if (proc.exitCode !== null) throw new Error(`modelplane local exited: ${out}`);
      await sleep(50);
    }
    if (!url) throw new Error(`no router URL:\n${out}`);
  }
  return { proc, out: () => out, url, exited };
}

interface ReplicaInfo { id: string; phase: string; pid: number; port: number; restarts: number; current: boolean }
interface DeploymentInfo { name: string; desiredReplicas: number; readyReplicas: number; generation: number; replicas: ReplicaInfo[]; conditions: { type: string; status: string; reason: string; message: string }[]; events: { type: string; message: string }[] }

async function state(url: string): Promise<{ deployments: DeploymentInfo[]; invalid: { name?: string; errors: { field: string; reason: string }[] }[]; skipped: { source: string; note: string }[] }> {
  const r = await fetch(`${url}/api/local`, { signal: AbortSignal.timeout(5000) });
  return r.json();
}

async function deployment(url: string, name: string): Promise<DeploymentInfo | undefined> {
  return (await state(url)).deployments.find((d) => d.name === name);
}

const allReady = (d: DeploymentInfo | undefined, n: number) => !!d && d.readyReplicas === n && d.replicas.length === n && d.replicas.every((r) => r.phase === 'ready' && r.current);

/** Closed-loop clients sending different inputs and checking every answer. */
function steadyLoad(url: string, model: 'simple' | 'mlp', clients: number) {
  let running = true;
  const result = { ok: 0, failed: 0, errors: [] as string[] };
  let seq = 0;
  const client = async () => {
    while (running) {
      const k = seq++;
      const a = Array.from({ length: 16 }, (_, i) => k * 16 + i);
      const b = Array.from({ length: 16 }, (_, i) => i % 3);
      const body = model === 'simple'
        ? { inputs: [{ name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: a }, { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: b }] }
        : { inputs: [{ name: 'input', shape: [1, 128], datatype: 'FP32', data: Array.from({ length: 128 }, (_, i) => ((k + i) % 7) / 7) }] };
      try {
        const r = await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(20_000) });
        const j = await r.json();
        if (r.status !== 200) throw new Error(`status ${r.status}: ${JSON.stringify(j)}`);
        if (model === 'simple' && JSON.stringify(j.outputs[0].data) !== JSON.stringify(a.map((x, i) => x + b[i]))) throw new Error(`wrong answer for request ${k}`);
        if (model === 'mlp' && (j.outputs[0].shape.join() !== '1,128' || !j.outputs[0].data.every(Number.isFinite))) throw new Error('bad mlp output');
        result.ok++;
      } catch (err) {
        result.failed++;
        if (result.errors.length < 5) result.errors.push((err as Error).message);
      }
    }
  };
  const done = Promise.all(Array.from({ length: clients }, client));
  return {
    result,
    stop: async () => {
      running = false;
      await done;
      return result;
    },
  };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const SIMPLE = (dir: string, maxQueueSize: number) => `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: simple }
spec:
  model: { uri: "file://${dir}/models/simple.onnx" }
  replicas: 2
  resources: { limits: { cpu: "1" } }
  runtime: { maxQueueSize: ${maxQueueSize}, batching: { maxBatchSize: 8 } }
`;

describe('modelplane local', () => {
  const tmp = tempDir('modelplane-local-');
  const manifests = join(tmp.path, 'manifests');
  let local: Local;

  beforeAll(async () => {
    const models = join(tmp.path, 'models');
    mkdirSync(models, { recursive: true });
    mkdirSync(manifests, { recursive: true });
    modelFile(models, 'simple', simpleModel());
    modelFile(models, 'mlp', mlpModel(128, 3));
    writeFileSync(join(models, 'broken.onnx'), Buffer.from([0x08, 0xff, 0xff, 0x00, 0x42, 0x13]));
    writeFileSync(join(manifests, 'simple.yaml'), SIMPLE(tmp.path, 256));
    writeFileSync(join(manifests, 'mlp.yaml'), `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: mlp }
spec:
  model: { uri: "file://${models}/mlp.onnx" }
  replicas: 1
  autoscaling: { minReplicas: 1, maxReplicas: 3, targetConcurrency: 2, scaleDownDelaySeconds: 2 }
  resources: { limits: { cpu: "1" } }
`);
    writeFileSync(join(manifests, 'others.yaml'), `apiVersion: v1
kind: ConfigMap
metadata: { name: settings }
---
apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: bad }
spec:
  model: { uri: "file://${models}/simple.onnx" }
  replicas: -3
---
apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: broken }
spec:
  model: { uri: "file://${models}/broken.onnx" }
`);
    local = await startLocal(['-f', manifests, '--port', '0', '--cache-dir', join(tmp.path, 'cache'), '--log-level', 'warn',
      '--autoscale-interval', '0.5', '--autoscale-stable-window', '3', '--autoscale-panic-window', '1', '--drain-timeout', '20']);
    await waitFor('simple and mlp ready', async () => allReady(await deployment(local.url, 'simple'), 2) && allReady(await deployment(local.url, 'mlp'), 1));
  });

  afterAll(async () => {
    if (local && local.proc.exitCode === null) {
      local.proc.kill('SIGKILL');
      await local.exited;
    }
    tmp.remove();
  });

  test('an invalid document is reported with its field and reason while the others run; other kinds are skipped', async () => {
    expect(local.out()).toMatch(/ModelDeployment bad in .*others\.yaml \(document 2\) is invalid and does not run: spec\.replicas: .*\(FieldValueInvalid\)/);
    const s = await state(local.url);
    // Other kinds are said at info level (this run logs at warn), and listed.
    expect(local.out()).not.toMatch(/ConfigMap/);
    expect(s.skipped).toEqual([expect.objectContaining({ note: expect.stringMatching(/^ConfigMap settings is not a ModelDeployment/) })]);
    expect(s.invalid).toEqual([expect.objectContaining({ name: 'bad', errors: [expect.objectContaining({ field: 'spec.replicas' })] })]);
    expect(s.deployments.map((d) => d.name).sort()).toEqual(['broken', 'mlp', 'simple']);
  });

  test('two deployments answer through the router, each request from its own model', async () => {
    const load = [steadyLoad(local.url, 'simple', 4), steadyLoad(local.url, 'mlp', 4)];
    await sleep(1500);
    const [simple, mlp] = await Promise.all(load.map((l) => l.stop()));
    expect(simple).toMatchObject({ failed: 0, errors: [] });
    expect(mlp).toMatchObject({ failed: 0, errors: [] });
    expect(simple.ok).toBeGreaterThan(20);
    expect(mlp.ok).toBeGreaterThan(20);
    // Both simple replicas took a share (least-loaded routing).
    const m = await (await fetch(`${local.url}/metrics`)).text();
    expect(m).toMatch(/modelplane_local_replicas\{modeldeployment="simple",phase="ready"\} 2/);
    // Bytes that are not JSON reach the replica and its 400, naming the problem, comes back unchanged.
    const garbage = await fetch(`${local.url}/v2/models/simple/infer`, { method: 'POST', body: Buffer.from([0xff, 0x00, 0xfe, 0x7b]) });
    expect(garbage.status).toBe(400);
    expect(await garbage.json()).toMatchObject({ reason: 'MalformedJson' });
    const unknown = await fetch(`${local.url}/v2/models/nope/infer`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ reason: 'ModelNotFound' });
  });

  test('a model that cannot load reads ModelLoadFailed with the runtime\'s termination message; the index says so', async () => {
    const broken = await waitFor('broken to report ModelLoadFailed', async () => {
      const d = await deployment(local.url, 'broken');
      return d?.conditions.find((c) => c.type === 'Ready' && c.reason === 'ModelLoadFailed') && d;
    });
    expect(broken.conditions.find((c) => c.type === 'Ready')!.message).toMatch(/^ModelLoadFailed: model .*broken\.onnx did not load/);
    const index = await (await fetch(`${local.url}/v2/repository/index`, { method: 'POST' })).json();
    expect(index).toEqual(expect.arrayContaining([
      { name: 'simple', version: '1', state: 'READY', reason: '' },
      { name: 'mlp', version: '1', state: 'READY', reason: '' },
      expect.objectContaining({ name: 'broken', state: 'UNAVAILABLE', reason: expect.stringMatching(/ModelLoadFailed/) }),
    ]));
    const list = await (await fetch(`${local.url}/apis/serving.modelplane.io/v1alpha1/modeldeployments`)).json();
    expect(list.kind).toBe('ModelDeploymentList');
    const simple = list.items.find((i: { metadata: { name: string } }) => i.metadata.name === 'simple');
    expect(simple.status).toMatchObject({ replicas: 2, readyReplicas: 2, observedGeneration: 1, url: `${local.url}/v2/models/simple` });
    expect(simple.status.conditions.map((c: { type: string; status: string }) => `${c.type}=${c.status}`)).toEqual(['Ready=True', 'Available=True', 'Progressing=False', 'ModelLoaded=True']);
    const mlp = list.items.find((i: { metadata: { name: string } }) => i.metadata.name === 'mlp');
    expect(mlp.status.autoscaler).toMatchObject({ mode: 'builtin', desiredReplicas: 1, panicking: false });
    // No replica of broken is ready: 503 at once, with Retry-After.
    const none = await fetch(`${local.url}/v2/models/broken/infer`, { method: 'POST', body: '{}' });
    expect(none.status).toBe(503);
    expect(none.headers.get('retry-after')).toBe('1');
    expect(await none.json()).toMatchObject({ reason: 'NoReadyReplica' });
    // The broken replica is restarted with a growing back-off.
    await waitFor('a restart of broken', async () => ((await deployment(local.url, 'broken'))?.replicas[0]?.restarts ?? 0) >= 1);
  });

  test('a replica killed with SIGKILL under steady load: no request fails, and it is restarted', async () => {
    const before = (await deployment(local.url, 'simple'))!;
    const load = steadyLoad(local.url, 'simple', 8);
    await sleep(700);
    process.kill(before.replicas[0].pid, 'SIGKILL');
    await sleep(1500);
    const r = await load.stop();
    expect(r).toMatchObject({ failed: 0, errors: [] });
    expect(r.ok).toBeGreaterThan(50);
    const after = await waitFor('the killed replica back', async () => {
      const d = await deployment(local.url, 'simple');
      return allReady(d, 2) && d!.replicas.find((x) => x.id === before.replicas[0].id)!.restarts === 1 && d;
    });
    expect(after.replicas.find((x) => x.id === before.replicas[0].id)!.pid).not.toBe(before.replicas[0].pid);
  });

  test('an edited spec rolls the replicas one at a time with no failed request', async () => {
    const before = (await deployment(local.url, 'simple'))!;
    const load = steadyLoad(local.url, 'simple', 6);
    await sleep(300);
    writeFileSync(join(manifests, 'simple.yaml'), SIMPLE(tmp.path, 128));
    const after = await waitFor('the rollout', async () => {
      const d = await deployment(local.url, 'simple');
      return d && d.generation === 2 && allReady(d, 2) && d.replicas.every((x) => !before.replicas.some((b) => b.id === x.id)) && d;
    }).catch(async (err) => {
      await load.stop();
      throw err;
    });
    await sleep(300);
    const r = await load.stop();
    expect(r).toMatchObject({ failed: 0, errors: [] });
    await waitFor('old replicas gone', async () => before.replicas.every((b) => !alive(b.pid)));
    const events = await waitFor('RolloutComplete', async () => {
      const types = (await deployment(local.url, 'simple'))!.events.map((e) => e.type);
      return types.includes('RolloutComplete') && types;
    });
    expect(events).toEqual(expect.arrayContaining(['SpecUpdated', 'RollingUpdate', 'RolloutComplete']));
    // The new replicas run the new flags.
    const cmdline = readFileSync(`/proc/${after.replicas[0].pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline[cmdline.indexOf('--max-queue-size') + 1]).toBe('128');
  });

  test('load scales the autoscaled deployment up, and quiet scales it back down', async () => {
    const load = steadyLoad(local.url, 'mlp', 10);
    // The load stops whatever happens, so that a failure here leaves nothing running into the next tests.
    const up = await waitFor('a scale-up', async () => {
      const d = await deployment(local.url, 'mlp');
      return d && d.desiredReplicas >= 2 && d.readyReplicas >= 2 && d;
    }, 20_000).finally(() => load.stop());
    const r = await load.stop();
    expect(r.failed).toBe(0);
    expect(up.events.some((e) => e.type === 'ScaledUp')).toBe(true);
    const down = await waitFor('the scale-down', async () => {
      const d = await deployment(local.url, 'mlp');
      return d && d.desiredReplicas === 1 && d.replicas.length === 1 && d;
    }, 30_000);
    expect(down.events.some((e) => e.type === 'ScaledDown')).toBe(true);
  });

  test('the dashboard shows each deployment, its replicas and a chart (headless Chromium)', async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      const external: string[] = [];
      page.on('request', (req) => {
        if (!req.url().startsWith(local.url)) external.push(req.url());
      });
      await page.goto(`${local.url}/`);
      await page.waitForSelector('section.deployment[data-name="simple"] svg.chart polyline.rate');
      const cards = await page.$$eval('section.deployment', (els) => els.map((e) => ({
        name: e.getAttribute('data-name'),
        replicas: e.querySelector('b.replicas')?.textContent,
        points: (e.querySelector('polyline.rate')?.getAttribute('points') ?? '').trim().split(/\s+/).length,
        rows: e.querySelectorAll('tbody tr').length,
        text: e.textContent,
      })));
      const simple = cards.find((c) => c.name === 'simple')!;
      expect(simple.replicas).toBe('2/2');
      expect(simple.rows).toBe(2);
      expect(simple.points).toBeGreaterThan(60);
      expect(cards.find((c) => c.name === 'mlp')!.text).toMatch(/ScaledUp: mlp: 1 -> \d replicas/);
      expect(cards.find((c) => c.name === 'broken')!.text).toMatch(/ModelLoadFailed/);
      expect(await page.textContent('.problems')).toMatch(/bad.*spec\.replicas/);
      expect(external).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  test('an invalid edit is reported and the previous spec keeps running', async () => {
    const before = (await deployment(local.url, 'simple'))!;
    writeFileSync(join(manifests, 'simple.yaml'), SIMPLE(tmp.path, 128).replace('replicas: 2', 'replicas: two'));
    await waitFor('the report', async () => /ModelDeployment simple in .*simple\.yaml is invalid and does not run: spec\.replicas: .*\(the previous spec keeps running\)/.test(local.out()));
    const after = (await deployment(local.url, 'simple'))!;
    expect(after.generation).toBe(before.generation);
    expect(after.replicas.map((r) => r.pid)).toEqual(before.replicas.map((r) => r.pid));
    const r = steadyLoad(local.url, 'simple', 2);
    await sleep(200);
    expect(await r.stop()).toMatchObject({ failed: 0 });
    writeFileSync(join(manifests, 'simple.yaml'), SIMPLE(tmp.path, 128));
    await waitFor('the problem cleared', async () => (await state(local.url)).invalid.every((p) => p.name !== 'simple'));
  });

  test('a ModelDeployment removed from the files is drained and stopped', async () => {
    const mlp = (await deployment(local.url, 'mlp'))!;
    rmSync(join(manifests, 'mlp.yaml'));
    await waitFor('mlp gone', async () => !(await deployment(local.url, 'mlp')));
    await waitFor('its replicas stopped', async () => mlp.replicas.every((r) => !alive(r.pid)));
    expect((await fetch(`${local.url}/v2/models/mlp/infer`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  test('SIGTERM: the request in flight finishes, replicas drain, exit 0', async () => {
    const pids = (await state(local.url)).deployments.flatMap((d) => d.replicas.map((r) => r.pid));
    const body = JSON.stringify({ inputs: [{ name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(2) }, { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: Array(16).fill(3) }] });
    const { port } = new URL(local.url);
    // A request whose body is still arriving when the signal comes.
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v2/models/simple/infer', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 20));
      setTimeout(() => {
        local.proc.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(20)), 300);
      }, 100);
    });
    const r = await answer;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).outputs[0].data).toEqual(Array(16).fill(5));
    expect(await local.exited).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
  });

  test('a port in use is reported before anything says ready', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as { port: number }).port;
    try {
      const busy = await startLocal(['-f', manifests, '--port', String(port), '--cache-dir', join(tmp.path, 'cache')], false);
      expect(await busy.exited).toBe(1);
      expect(busy.out()).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(busy.out()).not.toMatch(/\bready\b/);
    } finally {
      holder.close();
    }
  });
});

describe('modelplane local: warm-up samples and the optimisation gate', () => {
  const tmp = tempDir('modelplane-local-samples-');
  let local: Local;
  const rate = (value: number) => `{ name: sample_rate, datatype: INT64, shape: [], data: [${value}] }`;

  beforeAll(async () => {
    const models = join(tmp.path, 'models');
    const manifests = join(tmp.path, 'manifests');
    mkdirSync(models, { recursive: true });
    mkdirSync(manifests, { recursive: true });
    modelFile(models, 'rate', sampleRateModel());
    const bad = join(tmp.path, 'bad-rate.json');
    writeFileSync(bad, JSON.stringify({ inputs: [{ name: 'audio', datatype: 'FP32', shape: [2], data: [1, 2] }, { name: 'sample_rate', datatype: 'INT64', shape: [], data: [12345] }] }));
    writeFileSync(join(manifests, 'rate.yaml'), `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: rate }
spec:
  model: { uri: "file://${models}/rate.onnx" }
  runtime:
    warmup:
      inputs: [{ name: audio, datatype: FP32, shape: [3], data: [0.5, -1, 2] }, ${rate(16000)}]
  optimization: { graphOptimization: basic, minSpeedup: 1000 }
---
apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: rate-bad }
spec:
  model: { uri: "file://${models}/rate.onnx" }
  runtime: { warmup: { uri: "file://${bad}" } }
`);
    local = await startLocal(['-f', manifests, '--port', '0', '--cache-dir', join(tmp.path, 'cache'), '--log-level', 'warn']);
  });

  afterAll(async () => {
    if (local && local.proc.exitCode === null) {
      local.proc.kill('SIGKILL');
      await local.exited;
    }
    tmp.remove();
  });

  test('inline warm-up inputs reach the replica, which warms up on them; the gate compares on them too and refuses a model not fast enough', async () => {
    await waitFor('rate ready', async () => allReady(await deployment(local.url, 'rate'), 1), 60_000);
    const replica = (await deployment(local.url, 'rate'))!.replicas[0];
    const meta = await (await fetch(`http://127.0.0.1:${replica.port}/v2/models/rate`)).json();
    expect(meta.warmup).toEqual({ status: 'ok', inputs: 'samples', samples: 1 });
    // The samples, not generated inputs (which this model refuses), were what the gate ran on: it got as far as the speed gate.
    const list = await (await fetch(`${local.url}/apis/serving.modelplane.io/v1alpha1/modeldeployments`)).json();
    const status = list.items.find((i: { metadata: { name: string } }) => i.metadata.name === 'rate').status;
    expect(status.optimization).toMatchObject({ applied: false, reason: 'SpeedGateFailed', message: expect.stringMatching(/is below --min-speedup 1000/) });
    expect(meta.parameters).toMatchObject({ optimized: false, optimization_reason: 'SpeedGateFailed' });
    const r = await fetch(`${local.url}/v2/models/rate/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'audio', datatype: 'FP32', shape: [2], data: [2, 4] }, { name: 'sample_rate', datatype: 'INT64', shape: [], data: [8000] }] }) });
    expect((await r.json()).outputs[0].data).toEqual([1, 2]);
  });

  test('a warm-up sample the model refuses reads ModelLoadFailed with onnxruntime\'s message', async () => {
    const bad = await waitFor('rate-bad to report ModelLoadFailed', async () => {
      const d = await deployment(local.url, 'rate-bad');
      return d?.conditions.find((c) => c.type === 'Ready' && c.reason === 'ModelLoadFailed') && d;
    }, 60_000);
    expect(bad.conditions.find((c) => c.type === 'Ready')!.message).toMatch(/^ModelLoadFailed: model .*rate\.onnx failed its warm-up: warm-up sample .*bad-rate\.json failed: .*Reshape/);
  });
});
