// The operator against a real cluster (kind or any other): runs only with KUBECONFIG set and E2E=1.
// It installs the CRD when missing, runs the operator in this process in a fresh namespace, and checks what
// the fake API server can only imitate: real garbage collection, real scheduling, real CRD validation.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import {
  ApiException, ApiextensionsV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { createLogger } from '../../common/logger.js';
import { Operator } from '../../operator/controller/operator.js';
import { eventually as pollUntil } from '../operator/integration/harness.js';

const enabled = !!process.env.KUBECONFIG && process.env.E2E === '1';
const suite = enabled ? describe : describe.skip;
const MD = { group: 'serving.modelplane.io', version: 'v1alpha1', plural: 'modeldeployments' };
const NS = `modelplane-e2e-${Date.now().toString(36)}`;

type Md = { metadata: { generation?: number }; status?: { observedGeneration?: number; selector?: string; url?: string; conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };

/** A real cluster is slower than the fake API server: longer deadlines, slower polling. */
const eventually = <T>(fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> => pollUntil(fn, timeoutMs, 500);

suite('operator on a real cluster', () => {
  const kc = new KubeConfig();
  let operator: Operator;
  let custom: CustomObjectsApi;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  const ready = (md: Md) => md.status?.conditions?.find((c) => c.type === 'Ready');
  const read = async (name: string) => (await custom.getNamespacedCustomObject({ ...MD, namespace: NS, name })) as Md;

  beforeAll(async () => {
    kc.loadFromDefault();
    custom = kc.makeApiClient(CustomObjectsApi);
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    const crd = yaml.load(readFileSync(join(import.meta.dirname, '..', '..', 'crds', 'modeldeployments.serving.modelplane.io.yaml'), 'utf8')) as V1CustomResourceDefinition;
    try {
      await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      await ext.createCustomResourceDefinition({ body: crd });
      await eventually(async () => custom.listNamespacedCustomObject({ ...MD, namespace: 'default' }));
    }
    await core.createNamespace({ body: { metadata: { name: NS } } });
    const log = createLogger('operator', 'warn');
    operator = new Operator({ kubeConfig: kc, namespaces: [NS], config: { runtimeImage: process.env.E2E_RUNTIME_IMAGE ?? 'ghcr.io/modelplane/runtime:latest' }, metricsPort: null, leaderElection: false, logger: log });
    await operator.start();
    await operator.waitUntilSynced(60_000);
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
    await core.deleteNamespace({ name: NS }).catch(() => undefined);
  }, 60_000);

  it('creates children with owner references and writes status; scale follows; delete collects children', async () => {
    await custom.createNamespacedCustomObject({ ...MD, namespace: NS, body: { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'e2e' }, spec: { model: { uri: 'https://models.example/model.onnx' }, replicas: 1 } } });
    const md = await eventually(async () => {
      const m = await read('e2e');
      expect(m.status?.observedGeneration).toBe(m.metadata.generation);
      return m;
    });
    expect(md.status?.url).toBe(`http://e2e.${NS}.svc:8080/v2/models/e2e`);
    const d = await apps.readNamespacedDeployment({ name: 'e2e', namespace: NS });
    expect(d.metadata?.ownerReferences?.[0]?.kind).toBe('ModelDeployment');
    await core.readNamespacedService({ name: 'e2e', namespace: NS });

    const scale = (await custom.getNamespacedCustomObjectScale({ ...MD, namespace: NS, name: 'e2e' })) as { spec: { replicas: number } };
    await custom.replaceNamespacedCustomObjectScale({ ...MD, namespace: NS, name: 'e2e', body: { ...scale, spec: { replicas: 2 } } });
    await eventually(async () => expect((await apps.readNamespacedDeployment({ name: 'e2e', namespace: NS })).spec?.replicas).toBe(2));

    await custom.deleteNamespacedCustomObject({ ...MD, namespace: NS, name: 'e2e' });
    await eventually(async () => {
      const code = await apps.readNamespacedDeployment({ name: 'e2e', namespace: NS }).then(() => 200, (e: ApiException<unknown>) => e.code);
      expect(code).toBe(404);
    });
  }, 180_000);

  it('reports pods waiting for a GPU node as Unschedulable with the scheduler message', async () => {
    await custom.createNamespacedCustomObject({ ...MD, namespace: NS, body: { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'gpu' }, spec: { model: { uri: 'https://models.example/model.onnx' }, gpu: { count: 1 } } } });
    const md = await eventually(async () => {
      const m = await read('gpu');
      expect(ready(m)?.reason).toBe('Unschedulable');
      return m;
    }, 120_000);
    expect(ready(md)?.message).toMatch(/nvidia\.com\/gpu/);
  }, 180_000);

  it('lets the API server reject an invalid spec through the CRD schema', async () => {
    const code = await custom
      .createNamespacedCustomObject({ ...MD, namespace: NS, body: { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'bad' }, spec: { model: { uri: 'ftp://x/y' } } } })
      .then(() => 201, (e: ApiException<unknown>) => e.code);
    expect(code).toBe(422);
  });
});
