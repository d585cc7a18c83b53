// The reconciler with stand-ins for the caches and the API: what it writes for one ModelDeployment key.
import { describe, expect, it } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { createLogger } from '../../../common/logger.js';
import type { ModelDeployment, ModelDeploymentStatus } from '../../../operator/api/schema.js';
import { Reconciler, type ClusterCache } from '../../../operator/controller/reconciler.js';

const md = {
  apiVersion: 'serving.modelplane.io/v1alpha1',
  kind: 'ModelDeployment',
  metadata: { name: 'resnet', namespace: 'ml', uid: 'uid-1', generation: 1, resourceVersion: '7' },
  spec: { model: { uri: 'https://models.example/resnet.onnx' }, replicas: 1 },
  // Reconciled before: it had children, which the garbage collector may have taken.
  status: { observedGeneration: 1, replicas: 1, readyReplicas: 1 },
} as unknown as ModelDeployment;

/** Caches that still hold the ModelDeployment and none of its children, as right after the garbage collector took them. */
function setup(ownerGone: boolean) {
  const applied: KubernetesObject[] = [];
  const statuses: ModelDeploymentStatus[] = [];
  const cache: ClusterCache = {
    modelDeployment: (namespace, name) => (namespace === 'ml' && name === 'resnet' ? md : undefined),
    modelDeployments: () => [md],
    child: () => undefined,
    pods: () => [],
  };
  const reconciler = new Reconciler({
    cache,
    writer: {
      get: async () => undefined,
      create: async (obj) => {
        applied.push(obj);
        return obj;
      },
      apply: async (obj) => {
        applied.push(obj);
        return obj;
      },
      remove: async () => {},
    },
    writeStatus: async (_md, status) => {
      statuses.push(status);
    },
    events: { normal: () => {}, warning: () => {}, flush: async () => {} },
    config: { runtimeImage: 'ghcr.io/modelplane/runtime:0.1.0' },
    log: createLogger('test', 'error'),
    ownerGone: async () => ownerGone,
  });
  return { reconciler, applied, statuses };
}

describe('children of a ModelDeployment the API server no longer has', () => {
  it('are not created again when the caches have not yet seen the owner go', async () => {
    const { reconciler, applied, statuses } = setup(true);
    expect(await reconciler.reconcile('ml/resnet')).toEqual({});
    expect(applied).toEqual([]);
    expect(statuses).toEqual([]);
  });

  it('are created while the owner is there', async () => {
    const { reconciler, applied, statuses } = setup(false);
    await reconciler.reconcile('ml/resnet');
    expect(applied.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service']));
    expect(statuses).toHaveLength(1);
  });

  it('are created without reading the owner when it never had any (no status yet)', async () => {
    let reads = 0;
    const fresh = { ...md, status: undefined } as ModelDeployment;
    const reconciler = new Reconciler({
      cache: { modelDeployment: () => fresh, modelDeployments: () => [fresh], child: () => undefined, pods: () => [] },
      writer: { get: async () => undefined, create: async (o) => o, apply: async (o) => o, remove: async () => {} },
      writeStatus: async () => {},
      events: { normal: () => {}, warning: () => {}, flush: async () => {} },
      config: { runtimeImage: 'ghcr.io/modelplane/runtime:0.1.0' },
      log: createLogger('test', 'error'),
      ownerGone: async () => {
        reads++;
        return false;
      },
    });
    await reconciler.reconcile('ml/resnet');
    expect(reads).toBe(0);
  });
});
