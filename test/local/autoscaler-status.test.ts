// Local mode's status.autoscaler names the signal it scales on, as the operator's built-in autoscaler writes it:
// averageSequences for metric sequences (the router's streams in flight stand in for sequences), else
// averageConcurrency.
import type { ModelDeployment } from '../../operator/api/schema.js';
import { withDefaults } from '../../operator/api/validate.js';
import { LocalDeployment, type DeploymentContext } from '../../local/deployment.js';
import { averageField } from '../../operator/autoscaler/decision.js';
import { memoryLogger } from '../support/memory-logger.js';

const ctx = (): DeploymentContext => ({
  cacheDir: '/nonexistent', runDir: '/nonexistent', logger: memoryLogger('local').log, command: process.execPath, cliPath: '/nonexistent',
  routerUrl: () => 'http://127.0.0.1:0', onChange: () => undefined, tuning: {}, drainMs: 0,
});

function md(metric: 'concurrency' | 'sequences'): ModelDeployment {
  return {
    apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'chat' },
    spec: withDefaults({ model: { uri: 'file:///m/model.onnx' }, autoscaling: { mode: 'builtin', minReplicas: 1, maxReplicas: 2, metric } }),
  } as ModelDeployment;
}

test.each([['sequences', 'averageSequences'], ['concurrency', 'averageConcurrency']] as const)('metric %s: status.autoscaler.%s', (metric, field) => {
  const d = new LocalDeployment(md(metric), 'chat.yaml', ctx());
  d.autoscale();
  const status = d.autoscalerStatus()!;
  expect(status[field]).toBe(0);
  expect(Object.keys(status).filter((k) => k.startsWith('average'))).toEqual([field]);
  expect(averageField({ signal: metric })).toBe(field);
});
