// Everything the operator writes into status exists in the CRD's structural schema: a real API server prunes any
// other field, and a status compared against what was written would then never match again (a write every resync).
import { describe, expect, it } from '@jest/globals';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { buildCrd } from '../../../operator/api/crd.js';
import { computeStatus, type Observation } from '../../../operator/controller/status.js';
import { withScaling, type ScalingOutcome } from '../../../operator/autoscaler/scalers.js';
import { summaryLine, type OptimizationReport } from '../../../common/optimization-report.js';
import { podStatus, type PodState } from '../../support/fake-apiserver/index.js';
import { prune, validateSchema, type Schema } from '../../support/fake-apiserver/structural.js';
import { errorText } from '../../support/fake-apiserver/field-errors.js';
import type { Json } from '../../support/fake-apiserver/fields.js';

const schema = (buildCrd().spec.versions[0].schema.openAPIV3Schema as Schema & { properties: Record<string, Schema> }).properties.status;
const T0 = new Date('2026-01-01T00:00:00Z');
const containers = { init: ['fetch', 'optimize'], main: ['runtime'] };
const pod = (state: PodState, name = 'm-1'): V1Pod => ({ metadata: { name }, status: podStatus(state, containers) as V1Pod['status'] });
const deployment = (replicas: number, ready: number): V1Deployment => ({
  metadata: { name: 'm', generation: 1 },
  status: { observedGeneration: 1, replicas, readyReplicas: ready, availableReplicas: ready, updatedReplicas: replicas },
});

const report: OptimizationReport = {
  applied: true, reason: 'Applied', message: 'int8: 3.98x smaller', quantize: 'int8', originalBytes: 100, optimizedBytes: 25,
  speedup: { batch1: 4.4 }, accuracy: { maxAbsError: 0.001, cosine: 0.9999 },
} as unknown as OptimizationReport;

function optimizedPod(): V1Pod {
  const p = pod({ phase: 'Running', ready: true });
  p.status!.initContainerStatuses![1].state = { terminated: { exitCode: 0, reason: 'Completed', message: summaryLine(report) } };
  return p;
}

const base: Observation = { generation: 1, desiredReplicas: 2, pods: [], selector: 'a=b', url: 'http://m.ns.svc:8080/v2/models/m', now: T0 };
const observations: Array<[string, Partial<Observation>]> = [
  ['creating', {}],
  ['ready', { deployment: deployment(2, 2) }],
  ['invalid', { invalid: 'spec.model.uri: bad (FieldValueInvalid)' }],
  ['conflict', { conflict: 'Service ns/m already exists and has no controller' }],
  ['unschedulable', { deployment: deployment(2, 0), pods: [pod({ phase: 'Unschedulable', message: '0/3 nodes are available' })] }],
  ['crash loop', { deployment: deployment(2, 0), pods: [pod({ phase: 'CrashLoopBackOff', message: 'load failed' })] }],
  ['optimised', { deployment: deployment(2, 2), pods: [optimizedPod()], optimizationRequested: true }],
];
const outcomes: Array<[string, ScalingOutcome]> = [
  ['none', {}],
  ['builtin', { condition: { status: 'True', reason: 'ScalingActive', message: 'ok' }, autoscaler: { mode: 'builtin', averageConcurrency: 3.5, desiredReplicas: 2, lastScaleTime: '2026-01-01T00:00:00Z', reason: 'load' } }],
  ['hpa', { condition: { status: 'False', reason: 'FailedGetPodsMetric', message: 'no metrics' }, autoscaler: { mode: 'hpa', reason: 'HorizontalPodAutoscaler m' } }],
];

describe('the status the operator writes', () => {
  it.each(observations.flatMap(([o, obs]) => outcomes.map(([s, out]) => [`${o} / autoscaling ${s}`, obs, out] as const)))('%s is kept whole by the CRD schema', (_name, obs, outcome) => {
    const status = withScaling(computeStatus({ ...base, ...obs }), outcome, 1, undefined, T0);
    const asStored = JSON.parse(JSON.stringify(status)) as Json;
    expect(prune(schema, asStored)).toEqual(asStored);
    expect(validateSchema(schema, asStored, { name: 'status', base: '' }).map(errorText)).toEqual([]);
  });

  it('includes the optimisation report, quantisation included', () => {
    const status = computeStatus({ ...base, deployment: deployment(2, 2), pods: [optimizedPod()], optimizationRequested: true });
    expect(status.optimization).toMatchObject({ applied: true, quantize: 'int8', speedup: 4.4 });
  });
});
