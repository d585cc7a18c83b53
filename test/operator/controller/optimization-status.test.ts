// status.optimization: read from the termination message of the runtime pods' `optimize` init container.
import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import { computeStatus, podFailure, type Observation } from '../../../operator/controller/status.js';
import { summaryLine, type OptimizationReport } from '../../../common/optimization-report.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const base: Observation = { generation: 1, desiredReplicas: 1, pods: [], selector: 'a=b', now: T0 };

const report: OptimizationReport = {
  applied: true, reason: 'Applied', message: 'int8: 3.9x smaller', quantize: 'int8', graphOptimization: 'disabled', originalModel: '/models/m.onnx',
  files: ['model.onnx'], thresholds: { minCosine: 0.99 }, originalBytes: 4000, optimizedBytes: 1000, speedup: { batch1: 3.4567 },
  accuracy: { samples: 3, maxAbsError: 0.0123, meanAbsError: 0.001, cosine: 0.9995, nonFinite: 0, outputs: [] },
};

function pod(name: string, message: string | undefined, exitCode = 0): V1Pod {
  return {
    metadata: { name },
    status: {
      phase: 'Running',
      initContainerStatuses: [
        { name: 'fetch', image: 'i', imageID: '', ready: true, restartCount: 0, state: { terminated: { exitCode: 0 } } },
        { name: 'optimize', image: 'i', imageID: '', ready: exitCode === 0, restartCount: 0, state: { terminated: { exitCode, ...(message ? { message } : {}) } } },
      ],
    },
  };
}

describe('status.optimization', () => {
  it('reads the summary the optimize step left as its termination message', () => {
    const s = computeStatus({ ...base, optimizationRequested: true, pods: [pod('m-1', summaryLine(report))] });
    expect(s.optimization).toEqual({ applied: true, reason: 'Applied', message: 'int8: 3.9x smaller', quantize: 'int8', originalBytes: 4000, optimizedBytes: 1000, speedup: 3.46, maxAbsError: 0.0123, cosine: 0.9995 });
  });

  it('reports a gate that failed, and the original being served', () => {
    const failed = { ...report, applied: false, reason: 'AccuracyGateFailed', message: 'accuracy gate failed: cosine 0.9 below 0.99', speedup: undefined };
    const s = computeStatus({ ...base, optimizationRequested: true, pods: [pod('m-1', summaryLine(failed))] });
    expect(s.optimization).toMatchObject({ applied: false, reason: 'AccuracyGateFailed', message: /cosine 0.9/ });
  });

  it('keeps the last report while no pod has one, and drops it once the spec no longer asks for optimisation', () => {
    const previous = computeStatus({ ...base, optimizationRequested: true, pods: [pod('m-1', summaryLine(report))] });
    expect(computeStatus({ ...base, optimizationRequested: true, pods: [], previous }).optimization).toEqual(previous.optimization);
    expect(computeStatus({ ...base, optimizationRequested: false, pods: [pod('m-1', summaryLine(report))], previous }).optimization).toBeUndefined();
  });

  it.each([
    ['no message', undefined],
    ['a message that is not a summary', 'Error: something'],
    ['a summary that is not JSON', 'modelplane-optimization {oops'],
    ['a summary without the required fields', 'modelplane-optimization {"speedup": 2}'],
  ])('ignores %s', (_name, message) => {
    expect(computeStatus({ ...base, optimizationRequested: true, pods: [pod('m-1', message)] }).optimization).toBeUndefined();
  });

  it('an optimize step that crashed is ModelOptimizationFailed, not a fetch failure', () => {
    expect(podFailure(pod('m-1', undefined, 137))).toMatchObject({ reason: 'ModelOptimizationFailed', message: expect.stringMatching(/init container optimize exited with code 137/) });
  });
});
