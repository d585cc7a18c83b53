// The gateway's cluster home end to end on the in-repo fake API server: the real operator writes each
// ModelDeployment's Deployment and Service, stand-ins for kube-controller-manager and the scheduler give it pods and
// EndpointSlices, the node simulator runs real `modelplane serve` processes on loopback pod IPs, and the cluster
// Directory routes to them: requests sent to its upstreams reach the runtimes, a deployment at zero gets its first
// replica through /scale, and a replica whose process is killed leaves the directory.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { request } from 'node:http';
import { join } from 'node:path';
import { simpleModel, writeModel } from '../../examples/onnx-models.js';
import { pickUpstream } from '../../gateway/balance.js';
import { ClusterDirectory } from '../../gateway/cluster-directory.js';
import type { Target, Upstream } from '../../gateway/directory.js';
import { FakeControllers } from '../support/kube/fake-controllers.js';
import { NodeSimulator } from '../support/kube/node-simulator.js';
import { memoryLogger } from '../support/memory-logger.js';
import { tempDir } from '../support/runtime-process.js';
import { waitFor } from '../support/wait-for.js';
import { Harness, condition, modelDeployment } from '../operator/integration/harness.js';

const NS = 'gw';
const NODES = ['node-a', 'node-b'];
const tmp = tempDir('modelplane-gateway-cluster-');
const model = writeModel(join(tmp.path, 'simple.onnx'), simpleModel(16));
let h: Harness;
let controllers: FakeControllers;
let sim: NodeSimulator;
let dir: ClusterDirectory;

const body = JSON.stringify({ inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => i) })) });

/** One inference sent to an upstream over its own keep-alive agent, counted in flight as the gateway counts it. */
function inferVia(u: Upstream, served: string): Promise<{ status: number; text: string }> {
  u.inflight++;
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request({ host: u.host, port: u.port, agent: u.agent, method: 'POST', path: `/v2/models/${served}/infer`, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  }).finally(() => u.inflight--);
}

beforeAll(async () => {
  h = await Harness.start();
  controllers = new FakeControllers(h.server, NODES).start();
  sim = await new NodeSimulator(h.kc, { runRuntimes: true, nodes: NODES.map((name) => ({ name })), probeMs: 100 }).start();
  await h.operator({ namespaces: [NS] }).start();
  await h.operators[0].waitUntilSynced();
  const kc = new KubeConfig();
  kc.loadFromString(h.server.kubeconfigYaml());
  const log = memoryLogger('gateway', 'warn').log;
  dir = new ClusterDirectory({ kubeConfig: kc, namespace: NS, requestTimeoutMs: 5000, informer: { watchTimeoutSeconds: 5, backoffBaseMs: 20, backoffMaxMs: 200 }, logger: log });
  await dir.start();
}, 60_000);

afterAll(async () => {
  await dir?.stop();
  await sim?.stop();
  controllers?.stop();
  await h?.stop();
  tmp.remove();
}, 60_000);

describe('the cluster directory behind the operator', () => {
  it('a ModelDeployment with two replicas becomes Ready; its pods are the upstreams and answer inferences, least in-flight spreading them', async () => {
    await h.create(NS, modelDeployment('simple', { model: { uri: `file://${model}`, servedName: 'adder' }, replicas: 2 }));
    await h.until(NS, 'simple', (md) => expect(condition(md, 'Ready')?.status).toBe('True'), 60_000);
    const target = await waitFor('two upstreams', () => dir.lookup('adder')?.upstreams().length === 2 && dir.lookup('adder'), 30_000);
    const pods = (await h.core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/instance=simple' })).items;
    expect(target.upstreams().map((u) => u.host).sort()).toEqual(pods.map((p) => p.status!.podIP!).sort());
    expect(target.upstreams().every((u) => u.port === 8080 && u.grpcPort === 9000)).toBe(true);
    expect(target.readyCondition()?.status).toBe('True');

    // Eight concurrent callers, each picking the least-loaded upstream: both replicas take requests.
    const used = new Map<string, number>();
    const results = await Promise.all(Array.from({ length: 32 }, async () => {
      const u = pickUpstream(target)!;
      used.set(u.id, (used.get(u.id) ?? 0) + 1);
      return inferVia(u, 'adder');
    }));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(JSON.parse(results[0].text).outputs[0].data[3]).toBe(6);
    expect([...used.keys()].sort()).toEqual(target.upstreams().map((u) => u.id).sort());
  }, 90_000);

  it('a deployment at zero replicas: activate() patches /scale to one, and the new pod becomes its upstream', async () => {
    await h.create(NS, modelDeployment('cold', { model: { uri: `file://${model}` }, replicas: 0 }));
    const target: Target = await waitFor('the target at zero', () => dir.lookup('cold'), 30_000);
    expect(target.desiredReplicas()).toBe(0);
    expect(target.upstreams()).toEqual([]);
    let released = 0;
    dir.subscribe((t) => {
      if (t === target && t.upstreams().length > 0) released++;
    });
    target.activate();
    await waitFor('one ready upstream', () => target.upstreams().length === 1, 60_000);
    expect(released).toBeGreaterThan(0);
    expect((await h.read(NS, 'cold')).spec.replicas).toBe(1);
    expect((await inferVia(target.upstreams()[0], 'cold')).status).toBe(200);
  }, 90_000);

  it('a replica whose process is killed mid-load leaves the upstreams; requests to the other replica keep being answered', async () => {
    const target = dir.lookup('adder')!;
    const [victim, survivor] = target.upstreams();
    const pod = (await h.core.readNamespacedPod({ name: victim.id, namespace: NS }));
    expect(pod.status!.podIP).toBe(victim.host);
    const running = sim.running().find((k) => k === `${NS}/${victim.id}`);
    expect(running).toBeDefined();
    sim.kill(`${NS}/${victim.id}`);
    await waitFor('the killed replica gone from the upstreams', () => !target.upstreams().includes(victim), 30_000);
    expect(target.upstreams()).toEqual([survivor]);
    const results = await Promise.all(Array.from({ length: 8 }, () => inferVia(pickUpstream(target)!, 'adder')));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
  }, 90_000);
});
