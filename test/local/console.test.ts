// What a person reads from local mode: each new failure with its message, "all ModelDeployments ready" only when
// none was rejected, a 503 that says why no replica is ready, and counts in the singular for one.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { reflectPadModel, simpleModel } from '../../examples/onnx-models.js';
import { DASHBOARD_HTML } from '../../local/dashboard.js';
import { READY_REASON_HEADER } from '../../gateway/proxy.js';
import { readySummary } from '../../local/run.js';
import { count } from '../../local/words.js';
import { CLI, modelFile, tempDir } from '../support/runtime-process.js';
import { waitFor } from '../support/wait-for.js';
import { terminate } from '../support/processes.js';

/** Polls every 100 ms, for up to a minute. */
const until = <T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000) => waitFor(what, check, timeoutMs, 100);

describe('words', () => {
  test('one replica, two replicas', () => {
    expect(count(1, 'replica')).toBe('1 replica');
    expect(count(0, 'replica')).toBe('0 replicas');
    expect(count(3, 'ModelDeployment')).toBe('3 ModelDeployments');
  });

  test('the line once everything runs: "all ready" only when nothing was rejected', () => {
    const url = 'http://127.0.0.1:8080';
    expect(readySummary(2, [], url)).toMatch(/^all ModelDeployments ready\. Router http:\/\/127\.0\.0\.1:8080 /);
    expect(readySummary(1, [{ source: 'bad.yaml', name: 'bad' }], url)).toMatch(/^1 ModelDeployment ready; 1 rejected \(bad\): see the errors above/);
    expect(readySummary(0, [{ source: '/m/x.yaml' }], url)).toMatch(/^0 ModelDeployments ready; 1 rejected \(\/m\/x\.yaml\)/);
    expect(readySummary(0, [], url)).toMatch(/^no ModelDeployment in the files yet/);
  });

  test('the dashboard: "1 replica" on the chart, "replica ready" under 1/1', () => {
    const script = /<script>([\s\S]*)<\/script>/.exec(DASHBOARD_HTML)![1];
    const element = { textContent: '', innerHTML: '' };
    const ctx: Record<string, unknown> = { document: { getElementById: () => element }, fetch: () => new Promise(() => undefined), setInterval: () => 0 };
    runInNewContext(script, ctx);
    const chart = ctx.chart as (h: { rate: number; readyReplicas: number }[]) => string;
    const card = ctx.card as (d: unknown) => string;
    expect(chart([{ rate: 1, readyReplicas: 1 }, { rate: 2, readyReplicas: 1 }])).toContain('>1 replica</text>');
    expect(chart([{ rate: 1, readyReplicas: 2 }])).toContain('>2 replicas</text>');
    const d = { name: 'm', model: 'm', uri: 'file:///m.onnx', conditions: [], replicas: [], events: [], history: [], readyReplicas: 1, desiredReplicas: 1, rate: 0, inflight: 0, p50: null, p99: null, autoscaler: null };
    expect(card(d)).toContain('1/1</b>replica ready');
    expect(card({ ...d, desiredReplicas: 2 })).toContain('1/2</b>replicas ready');
  });
});

describe('the console and the router of modelplane local', () => {
  const tmp = tempDir('modelplane-local-console-');
  const manifests = join(tmp.path, 'manifests');
  const models = join(tmp.path, 'models');
  let proc: ChildProcess;
  let out = '';
  let url = '';

  beforeAll(async () => {
    mkdirSync(manifests, { recursive: true });
    mkdirSync(models, { recursive: true });
    modelFile(models, 'simple', simpleModel());
    writeFileSync(join(models, 'broken.onnx'), Buffer.from([0x08, 0xff, 0xff, 0x00, 0x42, 0x13]));
    writeFileSync(join(manifests, 'simple.yaml'), `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: simple }
spec:
  model: { uri: "file://${models}/simple.onnx" }
  replicas: 1
---
apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: bad }
spec:
  model: { url: "file://${models}/simple.onnx" }
`);
    proc = spawn(process.execPath, [CLI, 'local', '-f', manifests, '--port', '0', '--cache-dir', join(tmp.path, 'cache'), '--no-table'], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (c) => (out += c));
    proc.stderr!.on('data', (c) => (out += c));
    url = await until('the router URL', () => {
      if (proc.exitCode !== null) throw new Error(`exited:\n${out}`);
      return /router on (http:\/\/\S+)/.exec(out)?.[1];
    });
  });

  afterAll(async () => {
    if (proc) await terminate(proc, 15_000);
    tmp.remove();
  });

  test('with a document rejected, the ready line says so instead of "all ModelDeployments ready"', async () => {
    const line = await until('the ready line', () => /^.*Router http.*$/m.exec(out)?.[0]);
    expect(line).toMatch(/^1 ModelDeployment ready; 1 rejected \(bad\): see the errors above/);
    expect(out).not.toContain('all ModelDeployments ready');
    expect(out).toMatch(/error: ModelDeployment bad in .* is invalid and does not run: spec\.model\.uri: Required value \(FieldValueRequired\); spec\.model\.url: unknown field "url"; did you mean uri\?/);
  });

  test('a failure is printed with its message; a 503 for the failing deployment carries its reason and message', async () => {
    writeFileSync(join(manifests, 'broken.yaml'), `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: broken }
spec:
  model: { uri: "file://${models}/broken.onnx" }
`);
    const printed = await until('the failure on the console', () => /^failing: broken: (.*)$/m.exec(out)?.[1]);
    expect(printed).toMatch(/^ModelLoadFailed: model .*broken\.onnx did not load/);
    const r = await until('a 503 that says ModelLoadFailed', async () => {
      const res = await fetch(`${url}/v2/models/broken/infer`, { method: 'POST', body: '{}' });
      const body = await res.json();
      return res.headers.get(READY_REASON_HEADER) === 'ModelLoadFailed' && { res, body };
    });
    expect(r.res.status).toBe(503);
    expect(r.res.headers.get('retry-after')).toBe('1');
    expect(r.body).toEqual({
      reason: 'NoReadyReplica',
      error: expect.stringMatching(/^no replica of broken is ready: ModelLoadFailed: model .*broken\.onnx did not load/),
      status: { reason: 'ModelLoadFailed', message: expect.stringMatching(/did not load/) },
    });
    // Printed once, not at every restart.
    await until('a restart of broken', async () => {
      const s = await (await fetch(`${url}/api/local`)).json() as { deployments: { name: string; replicas: { restarts: number }[] }[] };
      return (s.deployments.find((d) => d.name === 'broken')?.replicas[0]?.restarts ?? 0) >= 2;
    });
    expect(out.match(/^failing: broken: /gm)).toHaveLength(1);
  });

  test('a model whose warm-up on generated inputs fails is served, and its status says so (ModelLoaded: WarmUpFailed)', async () => {
    modelFile(models, 'pad', reflectPadModel());
    writeFileSync(join(manifests, 'pad.yaml'), `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: pad }
spec:
  model: { uri: "file://${models}/pad.onnx" }
`);
    const loaded = await until('the warm-up note in the status', async () => {
      const s = await (await fetch(`${url}/api/local`)).json() as { deployments: { name: string; conditions: { type: string; status: string; reason: string; message: string }[] }[] };
      const c = s.deployments.find((d) => d.name === 'pad')?.conditions.find((x) => x.type === 'ModelLoaded');
      return c?.reason === 'WarmUpFailed' && c;
    });
    expect(loaded.status).toBe('True');
    expect(loaded.message).toMatch(/^.*the warm-up on generated inputs failed on pad-[^ ,]+ and the model is served all the same .*Pad/);
    const ready = await (await fetch(`${url}/v2/models/pad/ready`)).status;
    expect(ready).toBe(200);
  });
});
