// The operator against the fake API server through the real client-node: a ModelDeployment's life from
// create to delete, and the status it reports from what the pods do.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { putDeploymentPod, setDeploymentStatus } from '../../support/fake-apiserver/index.js';
import { Harness, MD, MERGE, condition, eventually, modelDeployment, sleep } from './harness.js';

let h: Harness;
const NS = 'ml';

beforeAll(async () => {
  h = await Harness.start();
  await h.operator({ namespaces: [NS] }).start();
  await h.operators[0].waitUntilSynced();
});
afterAll(async () => h.stop());

describe('a ModelDeployment', () => {
  it('becomes a Deployment, a Service and a status with selector, url, observedGeneration and conditions', async () => {
    await h.create(NS, modelDeployment('resnet'));
    const md = await h.until(NS, 'resnet', (m) => expect(m.status?.observedGeneration).toBe(1));
    expect(md.status).toMatchObject({
      selector: 'app.kubernetes.io/instance=resnet,app.kubernetes.io/name=modelplane-runtime',
      url: 'http://resnet.ml.svc:8080/v2/models/resnet',
      replicas: 0,
      readyReplicas: 0,
    });
    for (const type of ['Ready', 'Available', 'Progressing']) expect(condition(md, type)).toMatchObject({ observedGeneration: 1 });
    expect(condition(md, 'Ready')).toMatchObject({ status: 'False', reason: 'RollingOut' });
    const d = await h.apps.readNamespacedDeployment({ name: 'resnet', namespace: NS });
    expect(d.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ModelDeployment', name: 'resnet', uid: md.metadata!.uid, controller: true });
    expect(d.metadata?.managedFields?.map((f) => f.manager)).toEqual(['modelplane']);
    await h.core.readNamespacedService({ name: 'resnet', namespace: NS });
    const events = await h.core.listNamespacedEvent({ namespace: NS });
    expect(events.items.map((e) => `${e.reason} ${e.message}`)).toEqual(expect.arrayContaining(['Created Created Deployment ml/resnet', 'Created Created Service ml/resnet']));

    // The Deployment controller rolls it out: Ready, with lastTransitionTime moving only on status changes.
    setDeploymentStatus(h.server, NS, 'resnet', { replicas: 1, readyReplicas: 1 });
    const ready = await h.until(NS, 'resnet', (m) => expect(condition(m, 'Ready')?.status).toBe('True'));
    expect(ready.status).toMatchObject({ replicas: 1, readyReplicas: 1, availableReplicas: 1 });
    // Status is written under the operator's field manager, through the status subresource.
    expect(ready.metadata?.managedFields?.filter((f) => f.subresource === 'status').map((f) => [f.manager, f.operation])).toEqual([['modelplane', 'Update']]);
    expect(h.server.writes(/\/status$/).map((w) => w.fieldManager)).toEqual(expect.arrayContaining(['modelplane']));
    expect(h.server.writes(/\/status$/).every((w) => w.fieldManager === 'modelplane')).toBe(true);
    expect(condition(ready, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(condition(ready, 'Progressing')).toMatchObject({ status: 'False', reason: 'RolloutComplete' });
  });

  it('follows spec changes: new generation, Deployment updated, observedGeneration follows, PDB above one replica', async () => {
    const before = await h.apps.readNamespacedDeployment({ name: 'resnet', namespace: NS });
    const patched = await h.patchSpec(NS, 'resnet', { replicas: 3, runtime: { maxQueueSize: 64 } });
    expect(patched.metadata?.generation).toBe(2);
    const d = await eventually(async () => {
      const d = await h.apps.readNamespacedDeployment({ name: 'resnet', namespace: NS });
      expect(d.spec?.replicas).toBe(3);
      return d;
    });
    expect(d.metadata!.generation).toBe(before.metadata!.generation! + 1);
    const md = await h.until(NS, 'resnet', (m) => expect(m.status?.observedGeneration).toBe(2));
    expect(condition(md, 'Ready')).toMatchObject({ status: 'False', observedGeneration: 2 });
    await h.policy.readNamespacedPodDisruptionBudget({ name: 'resnet', namespace: NS });
  });

  it('drops from a child what the spec no longer asks for, though the child was created (not applied) at first', async () => {
    await h.create(NS, modelDeployment('pinned', { scheduling: { nodeSelector: { pool: 'a100' } } }));
    const d = await eventually(async () => h.apps.readNamespacedDeployment({ name: 'pinned', namespace: NS }));
    expect(d.spec?.template.spec?.nodeSelector).toEqual({ pool: 'a100' });
    await h.custom.patchNamespacedCustomObject({ ...MD, namespace: NS, name: 'pinned', body: { spec: { scheduling: null } } }, MERGE);
    await eventually(async () => expect((await h.apps.readNamespacedDeployment({ name: 'pinned', namespace: NS })).spec?.template.spec?.nodeSelector).toBeUndefined());
  });

  it('scales through the /scale subresource: the Deployment follows, a PDB goes when one replica is left', async () => {
    // What `kubectl scale mdp/resnet --replicas=1` and an HPA do: read the Scale, write it back.
    const current = (await h.custom.getNamespacedCustomObjectScale({ ...MD, namespace: NS, name: 'resnet' })) as { spec: { replicas: number } };
    expect(current.spec.replicas).toBe(3);
    await h.custom.replaceNamespacedCustomObjectScale({ ...MD, namespace: NS, name: 'resnet', body: { ...current, spec: { replicas: 1 } } });
    await eventually(async () => expect((await h.apps.readNamespacedDeployment({ name: 'resnet', namespace: NS })).spec?.replicas).toBe(1));
    await eventually(async () => expect(h.server.store.get(findPdb(), NS, 'resnet')).toBeUndefined());
    const scale = (await h.custom.getNamespacedCustomObjectScale({ ...MD, namespace: NS, name: 'resnet' })) as { status: { selector: string } };
    expect(scale.status.selector).toBe('app.kubernetes.io/instance=resnet,app.kubernetes.io/name=modelplane-runtime');
  });

  it('reports an invalid spec that the API server let through as Ready=False, reason InvalidSpec, naming the field; no children', async () => {
    // The API server refuses this spec with the operator's own CRD; a cluster holding an older one without the rule does not.
    await expect(h.create(NS, modelDeployment('broken', { model: { uri: 'ftp://nowhere/model.onnx' } }))).rejects.toMatchObject({ code: 422 });
    await h.replaceCrd((schema) => delete schema.properties.spec.properties.model.properties.uri['x-kubernetes-validations']);
    await h.create(NS, modelDeployment('broken', { model: { uri: 'ftp://nowhere/model.onnx' } }));
    const md = await h.until(NS, 'broken', (m) => expect(condition(m, 'Ready')?.reason).toBe('InvalidSpec'));
    expect(condition(md, 'Ready')?.message).toContain('spec.model.uri');
    expect(md.status?.lastFailure).toMatchObject({ reason: 'InvalidSpec' });
    expect(h.server.store.get(findDeployment(), NS, 'broken')).toBeUndefined();
    const events = await h.core.listNamespacedEvent({ namespace: NS });
    expect(events.items.some((e) => e.reason === 'InvalidSpec' && e.type === 'Warning' && e.involvedObject.name === 'broken')).toBe(true);
  });

  it('admits a KV cache budget above the memory limit (CEL cannot compare quantities) and reports it InvalidSpec, naming the field; no children', async () => {
    await h.create(NS, modelDeployment('kv-over', { resources: { limits: { memory: '1Gi' } }, runtime: { generation: { maxKvCacheBytes: 2 * 2 ** 30 } } }));
    const md = await h.until(NS, 'kv-over', (m) => expect(condition(m, 'Ready')?.reason).toBe('InvalidSpec'));
    expect(condition(md, 'Ready')?.message).toContain('spec.runtime.generation.maxKvCacheBytes: Invalid value 2147483648: the KV cache is held in host memory');
    expect(h.server.store.get(findDeployment(), NS, 'kv-over')).toBeUndefined();
  });

  it('reports unschedulable pods with the scheduler message', async () => {
    await h.create(NS, modelDeployment('gpu', { gpu: { count: 1 } }));
    await eventually(async () => h.apps.readNamespacedDeployment({ name: 'gpu', namespace: NS }));
    const message = 'waiting for capacity: 0/3 nodes have nvidia.com/gpu';
    putDeploymentPod(h.server, NS, 'gpu', 'gpu-abc12', { phase: 'Unschedulable', message: `0/3 nodes are available: 3 Insufficient nvidia.com/gpu. ${message}` });
    const md = await h.until(NS, 'gpu', (m) => expect(condition(m, 'Ready')?.reason).toBe('Unschedulable'));
    expect(condition(md, 'Ready')?.message).toContain(message);
    expect(condition(md, 'Progressing')).toMatchObject({ status: 'True', reason: 'Unschedulable' });
  });

  it('reports pods the API server refuses (a missing RuntimeClass) with its message, and recovers once they can be created', async () => {
    await h.create(NS, modelDeployment('gpu-rc', { scheduling: { runtimeClassName: 'nvidia' } }));
    await eventually(async () => h.apps.readNamespacedDeployment({ name: 'gpu-rc', namespace: NS }));
    expect(() => putDeploymentPod(h.server, NS, 'gpu-rc', 'gpu-rc-1', { phase: 'Running', ready: true })).toThrow(/RuntimeClass "nvidia" not found/);
    const md = await h.until(NS, 'gpu-rc', (m) => expect(condition(m, 'Ready')?.reason).toBe('PodsRejected'));
    expect(condition(md, 'Ready')?.message).toMatch(/^pods "gpu-rc-[0-9a-f]{9}-" is forbidden: pod rejected: RuntimeClass "nvidia" not found$/);
    expect(md.status?.lastFailure).toMatchObject({ reason: 'PodsRejected' });
    await h.server.store.create(findResource('node.k8s.io', 'v1', 'runtimeclasses')!, undefined, { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'nvidia' }, handler: 'nvidia' });
    putDeploymentPod(h.server, NS, 'gpu-rc', 'gpu-rc-1', { phase: 'Running', ready: true });
    setDeploymentStatus(h.server, NS, 'gpu-rc', { replicas: 1, readyReplicas: 1 });
    await h.until(NS, 'gpu-rc', (m) => expect(condition(m, 'Ready')?.status).toBe('True'));
  });

  it('reports image pull failures, crash loops and model load failures with the termination message, keeping the latest failure', async () => {
    await h.create(NS, modelDeployment('crashy'));
    await eventually(async () => h.apps.readNamespacedDeployment({ name: 'crashy', namespace: NS }));
    putDeploymentPod(h.server, NS, 'crashy', 'crashy-1', { phase: 'ImagePullBackOff', container: 'runtime', message: 'Back-off pulling image "ghcr.io/modelplane/runtime:0.1.0"' });
    await h.until(NS, 'crashy', (m) => expect(condition(m, 'Ready')?.reason).toBe('ImagePullFailed'));
    putDeploymentPod(h.server, NS, 'crashy', 'crashy-1', { phase: 'CrashLoopBackOff', exitCode: 137 });
    await h.until(NS, 'crashy', (m) => expect(condition(m, 'Ready')?.reason).toBe('CrashLoop'));
    const loadError = 'model load failed: /models/model.onnx: Protobuf parsing failed';
    putDeploymentPod(h.server, NS, 'crashy', 'crashy-1', { phase: 'CrashLoopBackOff', exitCode: 1, message: loadError });
    const md = await h.until(NS, 'crashy', (m) => expect(condition(m, 'Ready')?.reason).toBe('ModelLoadFailed'));
    expect(condition(md, 'Ready')?.message).toBe(loadError);
    expect(md.status?.lastFailure).toMatchObject({ reason: 'ModelLoadFailed', message: loadError });
    const fetchError = 'fetch failed: sha256 mismatch: expected 9f86d0…, got 2c26b4…';
    putDeploymentPod(h.server, NS, 'crashy', 'crashy-1', { phase: 'InitFailed', message: fetchError });
    await h.until(NS, 'crashy', (m) => expect(condition(m, 'Ready')).toMatchObject({ reason: 'ModelFetchFailed', message: fetchError }));
    // Recovery keeps the latest failure on record.
    putDeploymentPod(h.server, NS, 'crashy', 'crashy-1', { phase: 'Running', ready: true });
    setDeploymentStatus(h.server, NS, 'crashy', { replicas: 1, readyReplicas: 1 });
    const ok = await h.until(NS, 'crashy', (m) => expect(condition(m, 'Ready')?.status).toBe('True'));
    expect(ok.status?.lastFailure).toMatchObject({ reason: 'ModelFetchFailed', message: fetchError });
  });

  it('writes status only when it changed, and nothing at all during a resync after convergence', async () => {
    await sleep(200);
    h.server.clearRequestLog();
    putDeploymentPod(h.server, NS, 'crashy', 'crashy-1', { phase: 'CrashLoopBackOff', exitCode: 2 });
    setDeploymentStatus(h.server, NS, 'crashy', { replicas: 1, readyReplicas: 0 });
    await h.until(NS, 'crashy', (m) => expect(condition(m, 'Ready')?.reason).toBe('CrashLoop'));
    await sleep(200);
    expect(h.server.writes(/modeldeployments\/crashy\/status$/)).toHaveLength(1);
    setDeploymentStatus(h.server, NS, 'crashy', { replicas: 1, readyReplicas: 1 });
    putDeploymentPod(h.server, NS, 'crashy', 'crashy-1', { phase: 'Running', ready: true });
    await h.until(NS, 'crashy', (m) => expect(condition(m, 'Ready')?.status).toBe('True'));
    await sleep(200);
    expect(h.server.writes(/modeldeployments\/crashy\/status$/)).toHaveLength(2);
    h.server.clearRequestLog();
    h.operators[0].resync();
    await sleep(400);
    expect(h.server.writes()).toEqual([]);
    // A pod change that does not change the status costs no write either.
    putDeploymentPod(h.server, NS, 'crashy', 'crashy-1', { phase: 'Running', ready: true });
    await sleep(300);
    expect(h.server.writes()).toEqual([]);
  });

  it('leaves deletion to the garbage collector: children go with their owner', async () => {
    await h.custom.deleteNamespacedCustomObject({ ...MD, namespace: NS, name: 'resnet' });
    expect(h.server.store.get(findDeployment(), NS, 'resnet')).toBeUndefined();
    expect(h.server.store.get(findService(), NS, 'resnet')).toBeUndefined();
    await sleep(200);
    expect(h.server.store.get(findDeployment(), NS, 'resnet')).toBeUndefined();
  });
});

import { findResource } from '../../support/fake-apiserver/index.js';
const findDeployment = () => findResource('apps', 'v1', 'deployments')!;
const findService = () => findResource('', 'v1', 'services')!;
const findPdb = () => findResource('policy', 'v1', 'poddisruptionbudgets')!;
