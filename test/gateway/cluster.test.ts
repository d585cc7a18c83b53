// The gateway's cluster home end to end on the in-repo fake API server: the real operator writes each
// ModelDeployment's Deployment and Service, stand-ins for kube-controller-manager and the scheduler give it pods and
// EndpointSlices, the node simulator runs real `modelplane serve` processes on loopback pod IPs, and the gateway as
// `modelplane gateway` runs it (startClusterGateway) routes to them: requests reach the runtimes and spread over the
// replicas, a deployment at zero gets its first replica through /scale while the first request is held, and a replica
// killed mid-load costs only the requests it had in flight.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { simpleModel, writeModel } from '../../examples/onnx-models.js';
import { startClusterGateway, type RunningGateway } from '../../gateway/cluster-main.js';
import { FakeControllers } from '../support/kube/fake-controllers.js';
import { NodeSimulator } from '../support/kube/node-simulator.js';
import { memoryLogger } from '../support/memory-logger.js';
import { freePort, metricValue, tempDir } from '../support/runtime-process.js';
import { grpcClient } from '../support/grpc-client.js';
import { waitFor } from '../support/wait-for.js';
import { Harness, condition, modelDeployment } from '../operator/integration/harness.js';

const NS = 'gw';
const NODES = ['node-a', 'node-b'];
const tmp = tempDir('modelplane-gateway-cluster-');
const model = writeModel(join(tmp.path, 'simple.onnx'), simpleModel(16));
const logs = memoryLogger('gateway', 'info');
let h: Harness;
let controllers: FakeControllers;
let sim: NodeSimulator;
let gw: RunningGateway;
let grpcPort: number;

const body = JSON.stringify({ inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => i) })) });

/** One inference through the gateway: its status, and the reason of an error answer. */
async function infer(served: string): Promise<{ status: number; reason?: string; sum3?: number }> {
  const r = await fetch(`http://127.0.0.1:${gw.port}/v2/models/${served}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const json = (await r.json()) as { outputs?: Array<{ data: number[] }>; reason?: string };
  return { status: r.status, ...(json.reason ? { reason: json.reason } : {}), ...(json.outputs ? { sum3: json.outputs[0].data[3] } : {}) };
}

/** Inference requests a runtime pod answered, from its own /metrics. */
async function answeredBy(podIP: string, served: string): Promise<number> {
  const text = await (await fetch(`http://${podIP}:8080/metrics`)).text();
  return metricValue(text, 'modelplane_inference_requests_total', `model="${served}",outcome="success"`) || 0;
}

const podsOf = async (name: string) => (await h.core.listNamespacedPod({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${name}` })).items;

beforeAll(async () => {
  h = await Harness.start();
  controllers = new FakeControllers(h.server, NODES).start();
  sim = await new NodeSimulator(h.kc, { runRuntimes: true, nodes: NODES.map((name) => ({ name })), probeMs: 100 }).start();
  await h.operator({ namespaces: [NS] }).start();
  await h.operators[0].waitUntilSynced();
  grpcPort = await freePort();
  gw = await startClusterGateway({
    kubeconfig: h.server.writeKubeconfig(), namespaces: [NS], host: '127.0.0.1', port: 0, grpcPort, healthPort: 0,
    activationTimeoutMs: 60_000, maxHeldRequests: 100, maxBodyBytes: 1 << 20, upstreamTimeoutMs: 30_000,
    requestTimeoutMs: 5000, watchTimeoutSeconds: 5, drainTimeoutMs: 5000, logLevel: 'info',
  }, '1.2.3', logs.log);
}, 60_000);

afterAll(async () => {
  await gw?.drain();
  await sim?.stop();
  controllers?.stop();
  await h?.stop();
  tmp.remove();
}, 60_000);

describe('modelplane gateway in front of the operator\'s deployments', () => {
  it('is ready once its informers listed, and says so on the health port with its metrics', async () => {
    expect((await fetch(`http://127.0.0.1:${gw.healthPort}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${gw.healthPort}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${gw.healthPort}/metrics`)).text();
    expect(metrics).toContain('modelplane_gateway_shadowed_models 0');
  });

  it('a ModelDeployment with two replicas becomes Ready; requests through the gateway reach both runtime processes', async () => {
    await h.create(NS, modelDeployment('simple', { model: { uri: `file://${model}`, servedName: 'adder' }, replicas: 2 }));
    await h.until(NS, 'simple', (md) => expect(condition(md, 'Ready')?.status).toBe('True'), 60_000);
    await waitFor('two upstreams', () => gw.directory.lookup('adder')?.upstreams().length === 2, 30_000);
    // Eight concurrent callers, four requests each.
    const results = (await Promise.all(Array.from({ length: 8 }, async () => {
      const mine = [];
      for (let i = 0; i < 4; i++) mine.push(await infer('adder'));
      return mine;
    }))).flat();
    expect(results).toEqual(Array(32).fill({ status: 200, sum3: 6 }));
    const pods = await podsOf('simple');
    const counts = await Promise.all(pods.map((p) => answeredBy(p.status!.podIP!, 'adder')));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(32);
    expect(counts.every((c) => c > 0)).toBe(true);
  }, 90_000);

  it('gRPC through the gateway: ModelInfer by model name reaches a runtime pod\'s gRPC port from the EndpointSlice', async () => {
    expect(gw.directory.lookup('adder')!.upstreams().every((u) => u.grpcPort === 9000)).toBe(true);
    const client = grpcClient(grpcPort);
    try {
      const f32 = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);
      const xs = Array.from({ length: 16 }, (_, i) => i);
      const res = await client.call('ModelInfer', { model_name: 'adder', id: 'g1', inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, datatype: 'FP32', shape: [1, 16] })), raw_input_contents: [f32(xs), f32(xs)] });
      expect(res.id).toBe('g1');
      const out = res.raw_output_contents[0] as Buffer;
      expect(out.readFloatLE(3 * 4)).toBe(6);
    } finally {
      client.close();
    }
  }, 60_000);

  it('a deployment at zero (autoscaling.minReplicas 0, spec.replicas 0): the first request is held, the gateway patches /scale to one, and the request is answered once the pod is ready', async () => {
    await h.create(NS, modelDeployment('cold', { model: { uri: `file://${model}` }, replicas: 0, autoscaling: { mode: 'builtin', minReplicas: 0, maxReplicas: 2 } }));
    await waitFor('the target at zero', () => gw.directory.lookup('cold'), 30_000);
    expect(await podsOf('cold')).toEqual([]);
    const answer = await infer('cold');
    expect(answer).toEqual({ status: 200, sum3: 6 });
    expect((await h.read(NS, 'cold')).spec.replicas).toBe(1);
    const patches = h.server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(`/namespaces/${NS}/modeldeployments/cold/scale`));
    expect(patches.map((r) => [r.status, r.userAgent])).toEqual([[200, 'modelplane-gateway']]);
    expect(logs.entries.some((e) => e.message === 'activation' && e.name === 'cold' && e.kind === 'released')).toBe(true);

    // Stopped on purpose (spec.replicas 0, no minReplicas 0): answered at once, not started.
    await h.create(NS, modelDeployment('off', { model: { uri: `file://${model}` }, replicas: 0 }));
    await waitFor('the stopped target', () => gw.directory.lookup('off'), 30_000);
    const refused = await infer('off');
    expect(refused.status).toBe(503);
    expect(refused.reason).toEqual(expect.any(String));
    expect((await h.read(NS, 'off')).spec.replicas).toBe(0);
  }, 90_000);

  it('a replica killed mid-load: every request is answered, 200 or, only for those in flight on it, a clear error', async () => {
    const [victim] = await podsOf('simple');
    let stop = false;
    let sent = 0;
    const callers = Array.from({ length: 8 }, async () => {
      const mine: Array<{ status: number; reason?: string }> = [];
      while (!stop) {
        sent++;
        mine.push(await infer('adder'));
      }
      return mine;
    });
    await waitFor('load under way', () => sent >= 40, 30_000, 5);
    sim.kill(`${NS}/${victim.metadata!.name}`);
    await waitFor('the killed replica gone from the upstreams', () => gw.directory.lookup('adder')!.upstreams().every((u) => u.id !== victim.metadata!.name), 30_000);
    const after = sent;
    await waitFor('load after the kill', () => sent >= after + 40, 30_000, 5);
    stop = true;
    const results = (await Promise.all(callers)).flat();
    expect(results.length).toBe(sent);
    const failed = results.filter((r) => r.status !== 200);
    // At most the eight callers' requests could have been in flight on the killed replica; each says why.
    expect(failed.length).toBeLessThanOrEqual(8);
    for (const f of failed) expect(f.status === 502 || f.status === 503 || f.status === 504 ? f.reason : f).toEqual(expect.any(String));
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(results.length - 8);
  }, 90_000);

  it('a drain (SIGTERM) closes the listeners once nothing is in flight: new connections are refused', async () => {
    const healthPort = gw.healthPort;
    const readyBefore = (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status;
    const drained = gw.drain();
    await drained;
    expect(readyBefore).toBe(200);
    await expect(fetch(`http://127.0.0.1:${gw.port}/v2/models/adder/infer`, { method: 'POST', body })).rejects.toThrow();
    gw = undefined as unknown as RunningGateway;
  }, 30_000);
});
