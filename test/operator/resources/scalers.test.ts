// The objects that scale a ModelDeployment from outside: an autoscaling/v2 HPA (mode hpa) or a KEDA
// ScaledObject (mode keda), both aimed at the ModelDeployment's scale subresource.
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { desiredChildren, desiredScaler } from '../../../operator/resources/index.js';
import { concurrencyQuery, sequencesQuery } from '../../../operator/resources/scaledobject.js';
import { renderModelDeployments } from '../../../operator/resources/render.js';
import { CFG, md } from './fixtures.js';

const TARGET = { apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', name: 'resnet' };
const base = { model: { uri: 's3://models/r.onnx' }, replicas: 2 };

describe('desiredScaler', () => {
  test.each([
    ['no autoscaling block', undefined, undefined],
    ['mode builtin (the default)', { maxReplicas: 4 }, undefined],
    ['mode none', { mode: 'none', maxReplicas: 4 }, undefined],
    ['mode hpa', { mode: 'hpa', maxReplicas: 4 }, 'HorizontalPodAutoscaler'],
    ['mode keda', { mode: 'keda', maxReplicas: 4 }, 'ScaledObject'],
  ])('%s', (_name, autoscaling, kind) => {
    const out = desiredScaler(md({ ...base, ...(autoscaling ? { autoscaling } : {}) }), CFG);
    expect(out?.kind).toBe(kind);
    // Never among the children applied unconditionally: each is applied only where its API is served.
    expect(desiredChildren(md({ ...base, ...(autoscaling ? { autoscaling } : {}) }), CFG).map((c) => c.kind)).toEqual(['Deployment', 'Service', 'PodDisruptionBudget']);
  });

  test.each([
    [
      'concurrency as a Pods metric',
      { mode: 'hpa', minReplicas: 2, maxReplicas: 8, targetConcurrency: 6, scaleDownDelaySeconds: 120 },
      { type: 'Pods', pods: { metric: { name: 'modelplane_request_concurrency' }, target: { type: 'AverageValue', averageValue: '6' } } },
      120,
    ],
    [
      'sequences (running plus waiting) as a Pods metric',
      { mode: 'hpa', metric: 'sequences', maxReplicas: 6, targetSequences: 12 },
      { type: 'Pods', pods: { metric: { name: 'modelplane_generation_sequences' }, target: { type: 'AverageValue', averageValue: '12' } } },
      300,
    ],
    [
      'cpu as a Resource metric',
      { mode: 'hpa', metric: 'cpu', maxReplicas: 3, targetCPUUtilizationPercent: 65 },
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 65 } } },
      300,
    ],
  ])('HPA on %s, aimed at the scale subresource, valid autoscaling/v2', (_name, autoscaling, metric, window) => {
    const hpa = desiredScaler(md({ ...base, autoscaling }), CFG) as Record<string, any>;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.metadata).toMatchObject({ name: 'resnet', namespace: 'ml', ownerReferences: [{ kind: 'ModelDeployment', name: 'resnet', controller: true }] });
    expect(hpa.spec).toEqual({
      scaleTargetRef: TARGET,
      minReplicas: autoscaling.minReplicas ?? 1,
      maxReplicas: autoscaling.maxReplicas,
      metrics: [metric],
      behavior: { scaleDown: { stabilizationWindowSeconds: window } },
    });
    expect(() => new HorizontalPodAutoscaler(hpa as never).validate()).not.toThrow();
  });

  test('KEDA ScaledObject: a Prometheus trigger on the concurrency counter with the per-replica target', () => {
    const so = desiredScaler(md({ ...base, autoscaling: { mode: 'keda', minReplicas: 1, maxReplicas: 5, targetConcurrency: 3 } }), { ...CFG, prometheusAddress: 'http://prom.obs:9090' }) as Record<string, any>;
    expect(so).toMatchObject({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'resnet', namespace: 'ml' } });
    expect(so.spec).toEqual({
      scaleTargetRef: TARGET,
      minReplicaCount: 1,
      maxReplicaCount: 5,
      pollingInterval: 15,
      advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: 300 } } } },
      triggers: [{
        type: 'prometheus',
        name: 'concurrency',
        metadata: { serverAddress: 'http://prom.obs:9090', query: 'sum(rate(modelplane_request_concurrency_seconds_total{namespace="ml",pod=~"resnet-[a-z0-9]+-[a-z0-9]+"}[1m]))', threshold: '3' },
      }],
    });
    // What KEDA's CRD requires (keda.sh/v1alpha1 ScaledObject): scaleTargetRef.name, triggers[].type and metadata as strings.
    expect(typeof so.spec.scaleTargetRef.name).toBe('string');
    for (const t of so.spec.triggers) for (const v of Object.values(t.metadata)) expect(typeof v).toBe('string');
  });

  test('KEDA ScaledObject on sequences: the running and waiting gauges of its pods, summed, against targetSequences', () => {
    const so = desiredScaler(md({ ...base, autoscaling: { mode: 'keda', metric: 'sequences', maxReplicas: 5, targetSequences: 20 } }), CFG) as Record<string, any>;
    const pods = 'namespace="ml",pod=~"resnet-[a-z0-9]+-[a-z0-9]+"';
    expect(so.spec.triggers).toEqual([{
      type: 'prometheus',
      name: 'sequences',
      metadata: {
        serverAddress: 'http://prometheus-operated.monitoring.svc:9090',
        query: `sum(modelplane_generation_running_sequences{${pods}}) + sum(modelplane_generation_waiting_sequences{${pods}})`,
        threshold: '20',
      },
    }]);
    expect(sequencesQuery(md(base, { name: 'llm.v2' }))).toContain('pod=~"llm\\\\.v2-[a-z0-9]+-[a-z0-9]+"');
  });

  test('the default Prometheus address, and a pod pattern that escapes dots in the name', () => {
    const so = desiredScaler(md({ ...base, autoscaling: { mode: 'keda', maxReplicas: 2 } }, { name: 'resnet.v2' }), CFG) as Record<string, any>;
    expect(so.spec.triggers[0].metadata.serverAddress).toBe('http://prometheus-operated.monitoring.svc:9090');
    expect(concurrencyQuery(md(base, { name: 'resnet.v2' }))).toContain('pod=~"resnet\\\\.v2-[a-z0-9]+-[a-z0-9]+"');
  });
});

test('modelplane render shows the HPA or ScaledObject after the children', () => {
  const text = (mode: string) => `apiVersion: serving.modelplane.io/v1alpha1
kind: ModelDeployment
metadata: { name: resnet, namespace: ml }
spec:
  model: { uri: s3://models/r.onnx }
  autoscaling: { mode: ${mode}, maxReplicas: 3 }
`;
  const kinds = (mode: string) => [...renderModelDeployments([{ name: 'md.yaml', text: text(mode) }], { ...CFG, prometheusAddress: 'http://prom:9090' }).matchAll(/^kind: (\w+)$/gm)].map((m) => m[1]);
  expect(kinds('hpa')).toEqual(['Deployment', 'Service', 'HorizontalPodAutoscaler']);
  expect(kinds('keda')).toEqual(['Deployment', 'Service', 'ScaledObject']);
  expect(kinds('builtin')).toEqual(['Deployment', 'Service']);
});
