// The fake API server, driven by the real @kubernetes/client-node over HTTP: the semantics the operator's
// tests rely on must hold here first.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiException, ApisApi, AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, V1MicroTime, Watch,
  makeInformer, setHeaderOptions, type KubernetesObject, type V1Deployment,
} from '@kubernetes/client-node';
import { FakeApiServer, matchesSelector, parseLabelSelector, putDeploymentPod, startFakeApiServer } from '../support/fake-apiserver/index.js';

const MD = { group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments' };
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

let server: FakeApiServer;
let kc: KubeConfig;
let custom: CustomObjectsApi;
let apps: AppsV1Api;
let core: CoreV1Api;

beforeAll(async () => {
  server = await startFakeApiServer();
  kc = new KubeConfig();
  kc.loadFromString(server.kubeconfigYaml());
  custom = kc.makeApiClient(CustomObjectsApi);
  apps = kc.makeApiClient(AppsV1Api);
  core = kc.makeApiClient(CoreV1Api);
});
afterAll(async () => server.stop());

async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    return err instanceof ApiException ? err.code : -1;
  }
}

function md(name: string, replicas = 1) {
  return { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name }, spec: { replicas, model: { uri: 'file:///m.onnx' } }, status: { replicas: 99 } };
}

describe('custom resources', () => {
  it('keeps resourceVersion, answers 409 on a stale update, bumps generation on spec changes only', async () => {
    const created = (await custom.createNamespacedCustomObject({ ...MD, namespace: 'ns1', body: md('a') })) as KubernetesObject & { status?: unknown };
    expect(created.metadata?.generation).toBe(1);
    expect(created.status).toBeUndefined(); // status is only written through /status
    const rv1 = created.metadata!.resourceVersion!;
    const updated = (await custom.replaceNamespacedCustomObject({ ...MD, namespace: 'ns1', name: 'a', body: { ...created, spec: { replicas: 2, model: { uri: 'file:///m.onnx' } } } })) as KubernetesObject;
    expect(updated.metadata?.generation).toBe(2);
    expect(Number(updated.metadata!.resourceVersion)).toBeGreaterThan(Number(rv1));
    expect(await codeOf(custom.replaceNamespacedCustomObject({ ...MD, namespace: 'ns1', name: 'a', body: created }))).toBe(409);
    const labelled = (await custom.patchNamespacedCustomObject({ ...MD, namespace: 'ns1', name: 'a', body: { metadata: { labels: { team: 'x' } } } }, merge)) as KubernetesObject;
    expect(labelled.metadata?.generation).toBe(2);
    const withStatus = (await custom.patchNamespacedCustomObjectStatus({ ...MD, namespace: 'ns1', name: 'a', body: { status: { replicas: 3 }, spec: { replicas: 50 } } }, merge)) as { spec: { replicas: number }; status: { replicas: number }; metadata: { generation: number } };
    expect(withStatus.status.replicas).toBe(3);
    expect(withStatus.spec.replicas).toBe(2);
    expect(withStatus.metadata.generation).toBe(2);
    const stale = { status: { replicas: 4 }, metadata: { resourceVersion: rv1 } };
    expect(await codeOf(custom.patchNamespacedCustomObjectStatus({ ...MD, namespace: 'ns1', name: 'a', body: stale }, merge))).toBe(409);
    const noop = (await custom.patchNamespacedCustomObjectStatus({ ...MD, namespace: 'ns1', name: 'a', body: { status: { replicas: 3 } } }, merge)) as KubernetesObject;
    expect(noop.metadata?.resourceVersion).toBe((withStatus as unknown as KubernetesObject).metadata?.resourceVersion);
  });

  it('maps the scale subresource to spec.replicas, status.replicas and status.selector', async () => {
    await custom.createNamespacedCustomObject({ ...MD, namespace: 'ns1', body: md('s') });
    await custom.patchNamespacedCustomObjectStatus({ ...MD, namespace: 'ns1', name: 's', body: { status: { replicas: 1, selector: 'app=s' } } }, merge);
    const scale = (await custom.getNamespacedCustomObjectScale({ ...MD, namespace: 'ns1', name: 's' })) as { spec: { replicas: number }; status: { replicas: number; selector: string } };
    expect(scale).toMatchObject({ spec: { replicas: 1 }, status: { replicas: 1, selector: 'app=s' } });
    await custom.replaceNamespacedCustomObjectScale({ ...MD, namespace: 'ns1', name: 's', body: { ...scale, spec: { replicas: 5 } } });
    const after = (await custom.getNamespacedCustomObject({ ...MD, namespace: 'ns1', name: 's' })) as { spec: { replicas: number }; metadata: { generation: number } };
    expect(after.spec.replicas).toBe(5);
    expect(after.metadata.generation).toBe(2);
    await custom.patchNamespacedCustomObjectScale({ ...MD, namespace: 'ns1', name: 's', body: { spec: { replicas: 0 } } }, merge);
    expect(((await custom.getNamespacedCustomObject({ ...MD, namespace: 'ns1', name: 's' })) as { spec: { replicas: number } }).spec.replicas).toBe(0);
  });
});

describe('server-side apply', () => {
  const deployment = (labels: Record<string, string>, replicas?: number) => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'ns2', labels },
    spec: { ...(replicas !== undefined ? { replicas } : {}), selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
  });

  it('creates, removes fields the manager omits, keeps fields other managers own, and reports conflicts', async () => {
    const first = await apps.patchNamespacedDeployment({ name: 'web', namespace: 'ns2', body: deployment({ a: '1', b: '2' }, 2), fieldManager: 'modelplane', force: true }, apply);
    expect(first.metadata?.generation).toBe(1);
    expect(first.metadata?.managedFields?.[0]).toMatchObject({ manager: 'modelplane', operation: 'Apply' });
    await apps.patchNamespacedDeployment({ name: 'web', namespace: 'ns2', body: { metadata: { labels: { c: '3' } } }, fieldManager: 'kubectl-edit' }, merge);
    const second = await apps.patchNamespacedDeployment({ name: 'web', namespace: 'ns2', body: deployment({ a: '1' }, 2), fieldManager: 'modelplane', force: true }, apply);
    expect(second.metadata?.labels).toEqual({ a: '1', c: '3' });
    expect(second.metadata?.generation).toBe(1);
    const same = await apps.patchNamespacedDeployment({ name: 'web', namespace: 'ns2', body: deployment({ a: '1' }, 2), fieldManager: 'modelplane', force: true }, apply);
    expect(same.metadata?.resourceVersion).toBe(second.metadata?.resourceVersion);
    expect(await codeOf(apps.patchNamespacedDeployment({ name: 'web', namespace: 'ns2', body: deployment({ a: 'other' }, 2), fieldManager: 'someone-else' }, apply))).toBe(409);
    const taken = await apps.patchNamespacedDeployment({ name: 'web', namespace: 'ns2', body: deployment({}, 3), fieldManager: 'modelplane', force: true }, apply);
    expect(taken.spec?.replicas).toBe(3);
    expect(taken.metadata?.generation).toBe(2);
    expect(taken.metadata?.labels).toEqual({ c: '3' });
  });

  it('collects dependents of a deleted owner in the same namespace', async () => {
    const owner = (await custom.createNamespacedCustomObject({ ...MD, namespace: 'ns3', body: md('owner') })) as KubernetesObject;
    const ownerReferences = [{ apiVersion: MD.group + '/' + MD.version, kind: 'ModelDeployment', name: 'owner', uid: owner.metadata!.uid!, controller: true }];
    await apps.patchNamespacedDeployment({ name: 'owner', namespace: 'ns3', body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'owner', ownerReferences }, spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } } } } }, fieldManager: 'm', force: true }, apply);
    putDeploymentPod(server, 'ns3', 'owner', 'owner-pod', { phase: 'Running', ready: true });
    await core.createNamespacedService({ namespace: 'ns3', body: { metadata: { name: 'unowned' } } });
    await custom.deleteNamespacedCustomObject({ ...MD, namespace: 'ns3', name: 'owner' });
    expect(await codeOf(apps.readNamespacedDeployment({ name: 'owner', namespace: 'ns3' }))).toBe(404);
    expect(await codeOf(core.readNamespacedService({ name: 'unowned', namespace: 'ns3' }))).toBe(200);
  });
});

describe('list and watch', () => {
  it('filters by label selectors', async () => {
    for (const [name, tier] of [['l1', 'gold'], ['l2', 'silver'], ['l3', undefined]] as const) {
      await core.createNamespacedConfigMap({ namespace: 'ns4', body: { metadata: { name, labels: tier ? { tier } : { other: 'x' } } } });
    }
    const names = async (labelSelector: string) => (await core.listNamespacedConfigMap({ namespace: 'ns4', labelSelector })).items.map((i) => i.metadata!.name).sort();
    expect(await names('tier=gold')).toEqual(['l1']);
    expect(await names('tier!=gold')).toEqual(['l2', 'l3']);
    expect(await names('tier in (gold, silver)')).toEqual(['l1', 'l2']);
    expect(await names('tier notin (gold)')).toEqual(['l2', 'l3']);
    expect(await names('tier')).toEqual(['l1', 'l2']);
    expect(await names('!tier')).toEqual(['l3']);
    expect(matchesSelector(parseLabelSelector('a==b,c'), { a: 'b', c: '' })).toBe(true);
  });

  it('streams ADDED, MODIFIED and DELETED to the client-node informer and re-lists after 410 Gone', async () => {
    const informer = makeInformer(kc, '/apis/apps/v1/namespaces/ns5/deployments', () => apps.listNamespacedDeployment({ namespace: 'ns5' }));
    const seen: string[] = [];
    informer.on('add', (d: V1Deployment) => seen.push(`add ${d.metadata!.name}`));
    informer.on('update', (d: V1Deployment) => seen.push(`update ${d.metadata!.name}`));
    informer.on('delete', (d: V1Deployment) => seen.push(`delete ${d.metadata!.name}`));
    const body = (name: string, replicas: number) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name }, spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } } } } });
    await apps.createNamespacedDeployment({ namespace: 'ns5', body: body('w1', 1) });
    await informer.start();
    await waitFor(() => seen.includes('add w1'));
    await apps.patchNamespacedDeployment({ name: 'w1', namespace: 'ns5', body: { spec: { replicas: 2 } } }, merge);
    await apps.createNamespacedDeployment({ namespace: 'ns5', body: body('w2', 1) });
    await waitFor(() => seen.includes('update w1') && seen.includes('add w2'));
    // While the watch is down, w2 goes away and the history is compacted: resuming must re-list.
    server.goSilent();
    await apps.deleteNamespacedDeployment({ name: 'w2', namespace: 'ns5' });
    await apps.createNamespacedDeployment({ namespace: 'ns5', body: body('w3', 1) });
    server.compact();
    server.resume();
    server.dropWatches();
    await waitFor(() => seen.includes('delete w2') && seen.includes('add w3'));
    await informer.stop();
  });

  it('answers an expired resourceVersion with an ERROR event carrying 410', async () => {
    await core.createNamespacedConfigMap({ namespace: 'ns6', body: { metadata: { name: 'x' } } });
    server.compact();
    const events: Array<{ type: string; code?: number }> = [];
    const done = new Promise<void>((resolve) => {
      void new Watch(kc).watch('/api/v1/namespaces/ns6/configmaps', { resourceVersion: '1' }, (type, obj) => events.push({ type, code: (obj as { code?: number }).code }), () => resolve());
    });
    await done;
    expect(events).toEqual([{ type: 'ERROR', code: 410 }]);
  });
});

describe('leases, events and faults', () => {
  it('stores Leases with micro-time fields and Events', async () => {
    const coord = kc.makeApiClient(CoordinationV1Api);
    const lease = await coord.createNamespacedLease({ namespace: 'ns7', body: { metadata: { name: 'l' }, spec: { holderIdentity: 'me', leaseDurationSeconds: 1, renewTime: new V1MicroTime() } } });
    expect(lease.spec?.holderIdentity).toBe('me');
    // client-node sends micro-time with six fractional digits and hands it back as the string it got.
    expect(String(lease.spec?.renewTime)).toMatch(/\.\d{6}Z$/);
    expect(await codeOf(coord.replaceNamespacedLease({ name: 'l', namespace: 'ns7', body: { ...lease, metadata: { ...lease.metadata, resourceVersion: '1' } } }))).toBe(409);
    await core.createNamespacedEvent({ namespace: 'ns7', body: { metadata: { generateName: 'x.' }, involvedObject: { name: 'l' }, reason: 'Created', message: 'm', type: 'Normal' } });
    expect((await core.listNamespacedEvent({ namespace: 'ns7' })).items).toHaveLength(1);
  });

  it('holds a hung request open, applies nothing, and records the writer of every write', async () => {
    const { makeApiClient } = await import('../../operator/kube/api-client.js');
    const timed = makeApiClient(kc, CoreV1Api, { timeoutMs: 300, userAgent: 'tester (t1)' });
    server.hangNext(1, (method, path, ua) => method === 'POST' && path.includes('/ns9/') && ua === 'tester (t1)');
    const started = Date.now();
    await expect(timed.createNamespacedConfigMap({ namespace: 'ns9', body: { metadata: { name: 'h' } } })).rejects.toThrow(/no complete answer within 300 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(server.store.all().some((o) => o.metadata.namespace === 'ns9')).toBe(false);
    await timed.createNamespacedConfigMap({ namespace: 'ns9', body: { metadata: { name: 'h' } } });
    expect(server.writes().filter((w) => w.path.includes('/ns9/')).map((w) => [w.method, w.userAgent])).toEqual([['POST', 'tester (t1)']]);
    await waitFor(() => server.hungRequests === 0);
  });

  it('ends a watch after timeoutSeconds with a bookmark when asked; a silenced watch never ends by itself', async () => {
    await core.createNamespacedConfigMap({ namespace: 'ns10', body: { metadata: { name: 'a' } } });
    const rv = String(server.store.resourceVersion);
    const seen: Array<{ type: string; rv?: string }> = [];
    const started = Date.now();
    await new Promise<void>((resolve) => {
      void new Watch(kc).watch('/api/v1/namespaces/ns10/configmaps', { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 1 },
        (type, obj) => seen.push({ type, rv: (obj as KubernetesObject).metadata?.resourceVersion }), () => resolve());
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(seen).toEqual([{ type: 'BOOKMARK', rv: String(server.store.resourceVersion) }]);

    server.goSilent();
    let ended = false;
    const controller = await new Watch(kc).watch('/api/v1/namespaces/ns10/configmaps', { resourceVersion: rv, timeoutSeconds: 1 }, () => undefined, () => (ended = true));
    server.resume();
    await new Promise((r) => setTimeout(r, 1500));
    expect(ended).toBe(false);
    controller.abort();
  });

  it('injects 500s and 409 storms', async () => {
    server.failNext(2);
    expect(await codeOf(core.listNamespacedPod({ namespace: 'ns8' }))).toBe(500);
    expect(await codeOf(core.listNamespacedPod({ namespace: 'ns8' }))).toBe(500);
    expect(await codeOf(core.listNamespacedPod({ namespace: 'ns8' }))).toBe(200);
    server.conflictStorm(1);
    expect(await codeOf(core.listNamespacedPod({ namespace: 'ns8' }))).toBe(200);
    expect(await codeOf(core.createNamespacedConfigMap({ namespace: 'ns8', body: { metadata: { name: 'c' } } }))).toBe(409);
    expect(await codeOf(core.createNamespacedConfigMap({ namespace: 'ns8', body: { metadata: { name: 'c' } } }))).toBe(200);
  });
});

describe('autoscaling support', () => {
  it('serves and stops serving an API group version: discovery and requests follow', async () => {
    const apis = kc.makeApiClient(ApisApi);
    const so = { group: 'keda.sh', version: 'v1alpha1', plural: 'scaledobjects' };
    const groupVersions = async () => (await apis.getAPIVersions()).groups.flatMap((g) => g.versions.map((v) => v.groupVersion));
    expect(await groupVersions()).toEqual(expect.arrayContaining(['keda.sh/v1alpha1', 'autoscaling/v2']));
    server.serveApi('keda.sh/v1alpha1', false);
    try {
      expect(await groupVersions()).not.toContain('keda.sh/v1alpha1');
      expect(await codeOf(custom.listNamespacedCustomObject({ ...so, namespace: 'ns9' }))).toBe(404);
    } finally {
      server.serveApi('keda.sh/v1alpha1', true);
    }
    expect(await codeOf(custom.listNamespacedCustomObject({ ...so, namespace: 'ns9' }))).toBe(200);
  });

  it('puts a pod IP and named container ports on a Deployment pod', async () => {
    await apps.createNamespacedDeployment({ namespace: 'ns9', body: {
      metadata: { name: 'd' },
      spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'runtime', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] } } },
    } });
    putDeploymentPod(server, 'ns9', 'd', 'd-1', { phase: 'Running', ready: true }, { podIP: '127.0.0.9', ports: { http: 41000 } });
    const pod = await core.readNamespacedPod({ namespace: 'ns9', name: 'd-1' });
    expect(pod.status?.podIP).toBe('127.0.0.9');
    expect(pod.spec?.containers[0].ports).toEqual([{ name: 'http', containerPort: 41000 }]);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
