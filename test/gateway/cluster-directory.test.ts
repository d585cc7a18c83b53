// The cluster's Directory against the in-repo fake API server: ModelDeployments and the EndpointSlices of their
// Services written as a cluster would, read back as Targets and Upstreams; the pure readers of slices, conditions
// and model-name owners as tables.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { ClusterDirectory } from '../../gateway/cluster-directory.js';
import type { Target } from '../../gateway/directory.js';
import { assignModels, readyConditionOf, readyEndpoints, type EndpointSlice } from '../../gateway/endpoints.js';
import { findResource, startFakeApiServer, type FakeApiServer } from '../support/fake-apiserver/index.js';
import type { Json } from '../support/fake-apiserver/fields.js';
import { memoryLogger } from '../support/memory-logger.js';
import { metricValue } from '../support/runtime-process.js';
import { waitFor } from '../support/wait-for.js';

const MDS = findResource('serving.modelplane.io', 'v1alpha1', 'modeldeployments')!;
const SLICES = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;

type Endpoint = NonNullable<EndpointSlice['endpoints']>[number];
const endpoint = (pod: string, ip: string, conditions: Endpoint['conditions'] = { ready: true, serving: true, terminating: false }): Endpoint =>
  ({ addresses: [ip], conditions, targetRef: { kind: 'Pod', name: pod } });
const PORTS = [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'grpc', port: 9000, protocol: 'TCP' }];
const slice = (endpoints: Endpoint[], ports = PORTS, addressType = 'IPv4'): EndpointSlice => ({ addressType, endpoints, ports });

describe('readyEndpoints', () => {
  it.each<[string, EndpointSlice[], Array<{ id: string; host: string; port: number; grpcPort?: number }>]>([
    ['ready endpoints on the http and grpc ports', [slice([endpoint('b', '10.0.0.2'), endpoint('a', '10.0.0.1')])], [{ id: 'a', host: '10.0.0.1', port: 8080, grpcPort: 9000 }, { id: 'b', host: '10.0.0.2', port: 8080, grpcPort: 9000 }]],
    ['not ready and terminating endpoints are left out', [slice([endpoint('a', '10.0.0.1', { ready: false, serving: false }), endpoint('b', '10.0.0.2', { ready: false, serving: true, terminating: true }), endpoint('c', '10.0.0.3', { ready: true, terminating: true })])], []],
    ['an unset ready condition means ready', [slice([endpoint('a', '10.0.0.1', {})])], [{ id: 'a', host: '10.0.0.1', port: 8080, grpcPort: 9000 }]],
    ['no grpc port: no grpcPort', [slice([endpoint('a', '10.0.0.1')], [{ name: 'http', port: 8080, protocol: 'TCP' }])], [{ id: 'a', host: '10.0.0.1', port: 8080 }]],
    ['no http port: nothing', [slice([endpoint('a', '10.0.0.1')], [{ name: 'grpc', port: 9000, protocol: 'TCP' }])], []],
    ['FQDN slices are not addresses', [slice([endpoint('a', 'pod.example')], PORTS, 'FQDN')], []],
    ['an address in two slices counts once', [slice([endpoint('a', '10.0.0.1')]), slice([endpoint('a', '10.0.0.1')])], [{ id: 'a', host: '10.0.0.1', port: 8080, grpcPort: 9000 }]],
  ])('%s', (_, slices, want) => {
    expect(readyEndpoints(slices)).toEqual(want);
  });
});

describe('readyConditionOf and assignModels', () => {
  it('reads the Ready condition, or none', () => {
    expect(readyConditionOf({ status: { conditions: [{ type: 'Available', status: 'True' }, { type: 'Ready', status: 'False', reason: 'ModelLoadFailed', message: 'bad' }] } })).toEqual({ status: 'False', reason: 'ModelLoadFailed', message: 'bad' });
    expect(readyConditionOf({})).toBeUndefined();
  });

  it('gives a model name to the deployment created first, ties by namespace then name, and reports the others', () => {
    const { owners, shadowed } = assignModels([
      { model: 'm', namespace: 'b', name: 'x', created: '2026-01-02T00:00:00.000Z' },
      { model: 'm', namespace: 'a', name: 'y', created: '2026-01-02T00:00:00.000Z' },
      { model: 'm', namespace: 'c', name: 'z', created: '2026-01-01T00:00:00.000Z' },
      { model: 'n', namespace: 'a', name: 'n', created: '2026-01-03T00:00:00.000Z' },
    ]);
    expect(Object.fromEntries([...owners].map(([m, c]) => [m, `${c.namespace}/${c.name}`]))).toEqual({ m: 'c/z', n: 'a/n' });
    expect(shadowed).toEqual([{ model: 'm', namespace: 'a', name: 'y', ownedBy: 'c/z' }, { model: 'm', namespace: 'b', name: 'x', ownedBy: 'c/z' }]);
  });
});

describe('ClusterDirectory on the fake API server', () => {
  let server: FakeApiServer;
  let dir: ClusterDirectory;
  const registry = new Registry();
  const logs = memoryLogger('gateway', 'debug');
  const changes: Target[] = [];

  const md = (namespace: string, name: string, spec: Record<string, unknown> = {}) =>
    server.store.create(MDS, namespace, { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name }, spec: { model: { uri: 'https://models.example/m.onnx' }, replicas: 1, ...spec } } as Json);
  const putSlice = (namespace: string, service: string, endpoints: Endpoint[], ports = PORTS) => {
    const body = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${service}-abcde`, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } }, addressType: 'IPv4', endpoints, ports } as unknown as Json;
    // Updated in place, as the EndpointSlice controller does.
    const live = server.store.get(SLICES, namespace, `${service}-abcde`);
    if (live) server.store.replace(SLICES, namespace, `${service}-abcde`, { ...(body as object), metadata: { ...(body as { metadata: object }).metadata, resourceVersion: live.metadata.resourceVersion } } as Json);
    else server.store.create(SLICES, namespace, body);
  };

  beforeAll(async () => {
    server = await startFakeApiServer();
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfigYaml());
    dir = new ClusterDirectory({ kubeConfig: kc, requestTimeoutMs: 5000, informer: { watchTimeoutSeconds: 5, backoffBaseMs: 20, backoffMaxMs: 200 }, logger: logs.log, registry });
    dir.subscribe((t) => changes.push(t));
    expect(dir.synced).toBe(false);
    await dir.start();
    expect(dir.synced).toBe(true);
  });
  afterAll(async () => {
    await dir.stop();
    await server.stop();
  });

  it('a Target per ModelDeployment under its served name, its upstreams the ready endpoints of its Service', async () => {
    md('ml', 'resnet', { model: { uri: 'https://models.example/r.onnx', servedName: 'rn50' } });
    putSlice('ml', 'resnet', [endpoint('resnet-1', '10.1.0.1'), endpoint('resnet-2', '10.1.0.2', { ready: false, serving: false, terminating: false })]);
    const t = await waitFor('the target with one upstream', () => dir.lookup('rn50')?.upstreams().length === 1 && dir.lookup('rn50'));
    expect({ ns: t.namespace, name: t.name, model: t.model, desired: t.desiredReplicas() }).toEqual({ ns: 'ml', name: 'resnet', model: 'rn50', desired: 1 });
    expect(dir.lookup('resnet')).toBeUndefined();
    const [u] = t.upstreams();
    expect({ id: u.id, host: u.host, port: u.port, grpcPort: u.grpcPort, inflight: u.inflight }).toEqual({ id: 'resnet-1', host: '10.1.0.1', port: 8080, grpcPort: 9000, inflight: 0 });
    expect(changes).toContain(t);

    // An update that keeps the endpoint keeps the Upstream object, its in-flight count and its agent.
    u.inflight = 3;
    putSlice('ml', 'resnet', [endpoint('resnet-1', '10.1.0.1'), endpoint('resnet-2', '10.1.0.2')]);
    await waitFor('the second upstream', () => t.upstreams().length === 2);
    const again = t.upstreams().find((x) => x.id === 'resnet-1')!;
    expect(again).toBe(u);
    expect(again.inflight).toBe(3);

    // Its Ready condition follows the status.
    server.store.patch(MDS, 'ml', 'resnet', { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'all replicas ready', lastTransitionTime: '2026-01-01T00:00:00Z' }] } } as Json, 'application/merge-patch+json', { subresource: 'status' });
    await waitFor('the Ready condition', () => t.readyCondition()?.status === 'True');

    // A terminating endpoint leaves the upstreams.
    putSlice('ml', 'resnet', [endpoint('resnet-1', '10.1.0.1', { ready: false, serving: true, terminating: true }), endpoint('resnet-2', '10.1.0.2')]);
    await waitFor('one upstream left', () => t.upstreams().length === 1);
    expect(t.upstreams()[0].id).toBe('resnet-2');
  });

  it('two deployments with one served name: the first created owns it; the other is logged and counted until the first goes', async () => {
    md('a', 'first', { model: { uri: 'https://models.example/m.onnx', servedName: 'shared' } });
    await waitFor('the first', () => dir.lookup('shared'));
    md('b', 'second', { model: { uri: 'https://models.example/m.onnx', servedName: 'shared' } });
    await waitFor('the shadowed one', () => dir.shadowedModels().length === 1);
    expect(dir.lookup('shared')!.namespace).toBe('a');
    expect(dir.shadowedModels()).toEqual([{ model: 'shared', namespace: 'b', name: 'second', ownedBy: 'a/first' }]);
    expect(metricValue(await registry.metrics(), 'modelplane_gateway_shadowed_models')).toBe(1);
    expect(logs.entries.some((e) => e.message.includes('not routed to') && e.reason === 'ModelNameTaken' && e.namespace === 'b')).toBe(true);

    server.store.delete(MDS, 'a', 'first');
    await waitFor('the second owning the name', () => dir.lookup('shared')?.namespace === 'b');
    expect(dir.shadowedModels()).toEqual([]);
    expect(metricValue(await registry.metrics(), 'modelplane_gateway_shadowed_models')).toBe(0);
  });

  it('activate() at zero with minReplicas 0 patches /scale to one replica, one patch at a time; a failure is logged and retried on the next call', async () => {
    md('z', 'idle', { replicas: 0, autoscaling: { mode: 'builtin', minReplicas: 0, maxReplicas: 2 } });
    const t = await waitFor('the target at zero', () => dir.lookup('idle'));
    expect(t.desiredReplicas()).toBe(0);
    const patches = () => server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/namespaces/z/modeldeployments/idle/scale')).length;

    server.failNext(1, 500, (method, path) => method === 'PATCH' && path.endsWith('/modeldeployments/idle/scale'));
    expect(t.activate()).toBe(true);
    expect(t.activate()).toBe(true);
    await waitFor('the failure logged', () => logs.entries.find((e) => e.message === 'scale from zero failed' && e.name === 'idle'));
    expect(patches()).toBe(1);

    expect(t.activate()).toBe(true);
    await waitFor('spec.replicas 1', () => t.desiredReplicas() === 1);
    expect((server.store.get(MDS, 'z', 'idle')!.spec as { replicas: number }).replicas).toBe(1);
    expect(patches()).toBe(2);
    // On its way up: held, nothing more to patch.
    expect(t.activate()).toBe(true);
    expect(patches()).toBe(2);
    const metrics = await registry.metrics();
    expect([metricValue(metrics, 'modelplane_gateway_activations_total', 'result="patched"'), metricValue(metrics, 'modelplane_gateway_activations_total', 'result="failed"'), metricValue(metrics, 'modelplane_gateway_activations_total', 'result="skipped"')]).toEqual([1, 1, 1]);
  });

  it('activate() for a deployment stopped on purpose (spec.replicas 0 without minReplicas 0) refuses, and patches nothing', async () => {
    md('z', 'stopped', { replicas: 0 });
    const t = await waitFor('the target at zero', () => dir.lookup('stopped'));
    expect(t.activate()).toBe(false);
    expect(server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/modeldeployments/stopped/scale'))).toEqual([]);
    expect(metricValue(await registry.metrics(), 'modelplane_gateway_activations_total', 'result="stopped"')).toBe(1);
  });

  it('limited to namespaces, it sees only their deployments', async () => {
    md('team-a', 'alpha');
    md('team-b', 'beta');
    md('team-c', 'gamma');
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfigYaml());
    const scoped = new ClusterDirectory({ kubeConfig: kc, namespaces: ['team-a', 'team-b'], requestTimeoutMs: 5000, informer: { watchTimeoutSeconds: 5 }, logger: logs.log });
    try {
      await scoped.start();
      putSlice('team-b', 'beta', [endpoint('beta-1', '10.2.0.1')]);
      await waitFor('beta\'s upstream', () => scoped.lookup('beta')?.upstreams().length === 1);
      expect(scoped.list().map((t) => t.model).sort()).toEqual(['alpha', 'beta']);
      const paths = server.requests.filter((r) => r.userAgent === 'modelplane-gateway' && r.method === 'GET').map((r) => r.path);
      expect(paths.some((p) => p.includes('/namespaces/team-c/'))).toBe(false);
    } finally {
      await scoped.stop();
    }
  });

  it('a replica that leaves (terminating) finishes the request it was sent; only its idle connections close', async () => {
    let release: () => void = () => undefined;
    const replica = createServer((_req, res) => {
      release = () => res.end('done');
    });
    await new Promise<void>((r) => replica.listen(0, '127.0.0.1', r));
    const port = (replica.address() as AddressInfo).port;
    try {
      md('drain', 'slow');
      putSlice('drain', 'slow', [endpoint('slow-1', '127.0.0.1')], [{ name: 'http', port, protocol: 'TCP' }]);
      const t = await waitFor('the upstream', () => dir.lookup('slow')?.upstreams().length === 1 && dir.lookup('slow'));
      const u = t.upstreams()[0];
      const answer = new Promise<string>((resolve, reject) => {
        const req = request({ host: u.host, port: u.port, agent: u.agent, path: '/' }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end();
      });
      await waitFor('the request at the replica', () => Object.values(u.agent.sockets).flat().length === 1);
      putSlice('drain', 'slow', [endpoint('slow-1', '127.0.0.1', { ready: false, serving: true, terminating: true })], [{ name: 'http', port, protocol: 'TCP' }]);
      await waitFor('no upstream', () => t.upstreams().length === 0);
      release();
      expect(await answer).toBe('done');
      // Its connection is not kept for later requests.
      await waitFor('the connection closed', () => Object.values(u.agent.sockets).flat().length === 0 && Object.values(u.agent.freeSockets).flat().length === 0);
    } finally {
      replica.closeAllConnections();
      await new Promise((r) => replica.close(r));
    }
  });

  it('a deleted ModelDeployment leaves the directory', async () => {
    md('d', 'gone');
    await waitFor('the target', () => dir.lookup('gone'));
    server.store.delete(MDS, 'd', 'gone');
    await waitFor('no target', () => !dir.lookup('gone'));
    expect(dir.list().map((t) => t.model)).not.toContain('gone');
  });
});
