// What the Autoscaling condition and status.autoscaler say for each metric, with the cluster calls faked: the
// built-in autoscaler names its signal and target, an HPA or ScaledObject the metric it was given.
import type { KubernetesObject } from '@kubernetes/client-node';
import { ExternalScalers, type ScalerClient } from '../../../operator/autoscaler/scalers.js';
import { CFG, md } from '../resources/fixtures.js';

function scalers() {
  const applied: KubernetesObject[] = [];
  const client: ScalerClient = { get: async () => undefined, apply: async (o) => void applied.push(o), remove: async () => {} };
  return { s: new ExternalScalers(client, { served: async () => true }, CFG), applied };
}

const llm = { model: { uri: 'pvc://models/llm/model.onnx' }, runtime: { generation: { maxNumSeqs: 16 } } };

test.each([
  ['builtin on concurrency', { maxReplicas: 4, targetConcurrency: 6 }, 'the operator scales on average concurrency, target 6 per replica, within [1, 4]'],
  ['builtin on sequences', { metric: 'sequences', maxReplicas: 4, targetSequences: 12 }, 'the operator scales on average sequences (running or waiting), target 12 per replica, within [1, 4]'],
])('%s', async (_name, autoscaling, message) => {
  const { condition } = await scalers().s.sync(md({ ...llm, autoscaling }));
  expect(condition).toEqual({ status: 'True', reason: 'Builtin', message });
});

test.each([
  ['hpa', 'HorizontalPodAutoscaler ml/resnet scales on the Pods metric modelplane_generation_sequences, target 12 per replica'],
  ['keda', 'ScaledObject ml/resnet scales on Prometheus sequences, target 12 per replica'],
])('mode %s on sequences says what it scales on, and applies its scaler', async (mode, reason) => {
  const { s, applied } = scalers();
  const out = await s.sync(md({ ...llm, autoscaling: { mode, metric: 'sequences', maxReplicas: 4, targetSequences: 12 } }));
  expect(out.autoscaler).toEqual({ mode, reason });
  expect(applied.map((o) => o.kind)).toEqual([mode === 'hpa' ? 'HorizontalPodAutoscaler' : 'ScaledObject']);
});
