// The built-in autoscaler end to end: the operator against the fake API server, its pods backed by real
// `modelplane serve` processes on loopback addresses 127.0.0.x, a load generator holding requests in flight.
// Load drives one ModelDeployment from 1 to 3+ replicas through /scale; a manual scale is corrected; a pod whose
// metrics never answer is skipped; without load it comes back down after the delay.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { simpleModel } from '../../../examples/onnx-models.js';
import { builtinAutoscalerLoop } from '../../../operator/autoscaler/builtin.js';
import { findResource, putDeploymentPod, setDeploymentStatus } from '../../support/fake-apiserver/index.js';
import { modelFile, startRuntime, tempDir, type RuntimeProcess } from '../../support/runtime-process.js';
import { Harness, MD, MERGE, eventually, modelDeployment, type Md } from './harness.js';

const NS = 'ml';
const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const PODS = findResource('', 'v1', 'pods')!;
const NAME = 'simple';
const dir = tempDir();
let h: Harness;
const runtimes: RuntimeProcess[] = [];
let hanging: Server;
const hangingSockets = new Set<Socket>();
let hangingPort = 0;
let scrapesOfHangingPod = 0;
let kubelet: NodeJS.Timeout | undefined;

/** Pod i of the Deployment: runtimes fill pods 0, 2, 3; pod 1 is a runtime whose /metrics never answers. */
function backendOf(i: number): { ip: string; port: number } | undefined {
  if (i === 1) return { ip: '127.0.0.21', port: hangingPort };
  const r = runtimes[i === 0 ? 0 : i - 1];
  return r ? { ip: new URL(r.url).hostname, port: r.port } : undefined;
}

/** What the Deployment controller and kubelet would do: keep spec.replicas pods, ready, with IPs. */
function syncPods(): void {
  const d = h.server.store.get(DEPLOYMENTS, NS, NAME) as { spec?: { replicas?: number } } | undefined;
  if (!d) return;
  const want = Math.min(d.spec?.replicas ?? 1, 4);
  const podType = PODS;
  for (let i = 0; i < 4; i++) {
    const name = `${NAME}-7d9f8b6c5-pod${i}`;
    const exists = !!h.server.store.get(podType, NS, name);
    const backend = backendOf(i);
    if (i < want && !exists && backend) putDeploymentPod(h.server, NS, NAME, name, { phase: 'Running', ready: true }, { podIP: backend.ip, ports: { http: backend.port } });
    if (i >= want && exists) h.server.store.delete(podType, NS, name);
  }
  setDeploymentStatus(h.server, NS, NAME, { replicas: want, readyReplicas: want });
}

const ready = () => {
  const podType = PODS;
  return h.server.store.list(podType, NS).items
    .map((p) => (p as { status?: { podIP?: string }; spec?: { containers?: Array<{ ports?: Array<{ name?: string; containerPort: number }> }> } }))
    .map((p) => ({ ip: p.status?.podIP, port: p.spec?.containers?.[0]?.ports?.find((x) => x.name === 'http')?.containerPort }))
    .filter((b) => b.ip && b.ip !== '127.0.0.21');
};

/** Keeps `n` requests in flight, spread over the serving pods; each body arrives in two parts 200 ms apart. */
function loadGenerator(n: number) {
  let running = true;
  let ok = 0;
  let next = 0;
  const body = Buffer.from(JSON.stringify({ inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: Array.from({ length: 16 }, (_, i) => i) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'FP32', data: Array.from({ length: 16 }, () => 1) },
  ] }));
  const one = () => new Promise<void>((resolve) => {
    const backends = ready();
    const b = backends[next++ % Math.max(1, backends.length)];
    if (!b) return void setTimeout(resolve, 50);
    const req = request({ host: b.ip, port: b.port, method: 'POST', path: `/v2/models/${NAME}/infer`, headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode === 200 && JSON.parse(Buffer.concat(chunks).toString()).outputs[0].data[15] === 16) ok++;
        resolve();
      });
    });
    req.on('error', () => resolve());
    req.write(body.subarray(0, 10));
    setTimeout(() => req.end(body.subarray(10)), 200);
  });
  const loops = Array.from({ length: n }, async () => {
    while (running) await one();
  });
  return { stop: async () => { running = false; await Promise.all(loops); return ok; } };
}

const replicasOf = async () => (await h.read(NS, NAME)).spec.replicas as number;
const scaleWrites = () => h.server.writes(/\/modeldeployments\/simple\/scale$/);

beforeAll(async () => {
  const model = modelFile(dir.path, 'simple', simpleModel());
  const started = await Promise.all(['127.0.0.11', '127.0.0.12', '127.0.0.13'].map((host) =>
    startRuntime(['--model', model, '--name', NAME, '--max-batch-size', '1', '--log-level', 'error'], { host })));
  runtimes.push(...started);
  hanging = createServer((s) => {
    scrapesOfHangingPod++;
    hangingSockets.add(s);
    s.on('close', () => hangingSockets.delete(s));
  });
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.21', r));
  hangingPort = (hanging.address() as { port: number }).port;
  h = await Harness.start();
  await h.operator({
    namespaces: [NS],
    leaderLoops: [builtinAutoscalerLoop({ intervalMs: 250, scrapeTimeoutMs: 200, statusRefreshMs: 500, tuning: { stableWindowSeconds: 3, panicWindowSeconds: 1 } })],
  }).start();
  await h.operators[0].waitUntilSynced();
  kubelet = setInterval(syncPods, 50);
}, 60_000);

afterAll(async () => {
  if (kubelet) clearInterval(kubelet);
  await h?.stop();
  for (const s of hangingSockets) s.destroy();
  await new Promise((r) => hanging?.close(r));
  await Promise.all(runtimes.map((r) => r.stop()));
  dir.remove();
});

describe('the built-in autoscaler', () => {
  let load: ReturnType<typeof loadGenerator> | undefined;
  afterAll(async () => {
    await load?.stop();
  });

  it('scales up under load through /scale, with an Event and status.autoscaler saying why', async () => {
    await h.create(NS, modelDeployment(NAME, {
      model: { uri: 'file:///models/simple.onnx' },
      replicas: 1,
      autoscaling: { minReplicas: 1, maxReplicas: 4, targetConcurrency: 2, scaleDownDelaySeconds: 3 },
    }));
    await eventually(async () => expect(ready().length).toBe(1), 8000);
    // No load: the count holds (no write), whatever the scrapes of an idle pod say.
    await new Promise((r) => setTimeout(r, 1500));
    expect(scaleWrites()).toEqual([]);
    expect(await replicasOf()).toBe(1);

    load = loadGenerator(8);
    const md = await eventually(async () => {
      const m = await h.read(NS, NAME);
      expect(m.spec.replicas).toBeGreaterThanOrEqual(3);
      return m;
    }, 20_000, 100);
    expect(scaleWrites().length).toBeGreaterThan(0);
    const events = (await h.core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.reason === 'Scaled');
    expect(events[0].message).toMatch(/^scaled 1 -> \d: (panic: concurrency over 1s|average concurrency) \d+(\.\d)?, target 2/);
    expect(events[0].involvedObject).toMatchObject({ kind: 'ModelDeployment', name: NAME });
    // The Deployment follows the ModelDeployment.
    await eventually(async () => expect((await h.apps.readNamespacedDeployment({ name: NAME, namespace: NS })).spec?.replicas).toBe(md.spec.replicas));
    const status = await h.until(NS, NAME, (m: Md) => expect((m.status as Record<string, any>)?.autoscaler?.lastScaleTime).toBeDefined(), 5000);
    expect((status.status as Record<string, any>).autoscaler).toMatchObject({ mode: 'builtin', desiredReplicas: expect.any(Number), reason: expect.stringMatching(/target 2/) });
    expect((status.status as Record<string, any>).autoscaler.averageConcurrency).toBeGreaterThan(2);
    expect(status.status?.conditions?.find((c) => c.type === 'Autoscaling')).toMatchObject({ status: 'True', reason: 'Builtin' });
  }, 40_000);

  it('skips a pod whose metrics never answer: scrapes time out, decisions go on', async () => {
    // Pod 1 is ready but its /metrics hangs; the autoscaler connected to it and still scaled past it.
    expect(scrapesOfHangingPod).toBeGreaterThan(0);
    expect(await replicasOf()).toBeGreaterThanOrEqual(3);
  });

  it('corrects a manual kubectl scale at its next decision while the load lasts', async () => {
    const before = await replicasOf();
    await h.custom.patchNamespacedCustomObjectScale({ ...MD, namespace: NS, name: NAME, body: { spec: { replicas: 1 } } }, MERGE);
    expect(await replicasOf()).toBe(1);
    await eventually(async () => expect(await replicasOf()).toBeGreaterThanOrEqual(Math.min(before, 3)), 10_000, 100);
  }, 20_000);

  it('scales back down after the load stops and the delay passes, without flapping', async () => {
    const served = await load!.stop();
    load = undefined;
    expect(served).toBeGreaterThan(0);
    const writesBefore = scaleWrites().length;
    const stoppedAt = Date.now();
    await eventually(async () => expect(await replicasOf()).toBe(1), 30_000, 200);
    // Not before the stable window (3 s) has forgotten the load.
    expect(Date.now() - stoppedAt).toBeGreaterThan(2500);
    // Halving per step: at most two writes from 4 to 1, never up again.
    const downs = scaleWrites().length - writesBefore;
    expect(downs).toBeGreaterThanOrEqual(1);
    expect(downs).toBeLessThanOrEqual(2);
    const events = (await h.core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.reason === 'Scaled').map((e) => e.message!);
    expect(events.at(-1)).toMatch(/-> 1: average concurrency 0(\.\d)?, target 2/);
  }, 40_000);
});
