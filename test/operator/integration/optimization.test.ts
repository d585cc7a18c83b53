// spec.optimization through the real operator and client-node against the fake API server: the optimize step's
// termination message becomes status.optimization and an Event.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { putDeploymentPod } from '../../support/fake-apiserver/index.js';
import { summaryLine, type OptimizationReport } from '../../../common/optimization-report.js';
import { Harness, MERGE, eventually, modelDeployment } from './harness.js';

let h: Harness;
const NS = 'opt';

beforeAll(async () => {
  h = await Harness.start();
  await h.operator({ namespaces: [NS] }).start();
  await h.operators[0].waitUntilSynced();
});
afterAll(async () => h.stop());

const report: OptimizationReport = {
  applied: true, reason: 'Applied', message: 'int8: 3.98x smaller, 4.4x faster at batch 1', quantize: 'int8', graphOptimization: 'disabled',
  originalModel: '/models/m.onnx', files: ['model.onnx'], thresholds: { minCosine: 0.99 }, originalBytes: 67142247, optimizedBytes: 16852210,
  speedup: { batch1: 4.44 }, accuracy: { samples: 3, maxAbsError: 0.0012, meanAbsError: 0.0001, cosine: 0.99993, nonFinite: 0, outputs: [] },
};

it('reads the optimize step\'s termination message into status.optimization, with an Event', async () => {
  await h.create(NS, modelDeployment('ranker', { optimization: { quantize: 'int8' } }));
  await eventually(async () => {
    const d = await h.apps.readNamespacedDeployment({ name: 'ranker', namespace: NS });
    expect(d.spec!.template.spec!.initContainers!.map((c) => c.name)).toEqual(['fetch', 'optimize']);
  });
  const pod = putDeploymentPod(h.server, NS, 'ranker', 'ranker-1', { phase: 'Running', ready: false });
  const statuses = ((pod as { status: { initContainerStatuses: Array<Record<string, unknown>> } }).status.initContainerStatuses).map((cs) =>
    cs.name === 'optimize' ? { ...cs, state: { terminated: { exitCode: 0, reason: 'Completed', message: summaryLine(report) } } } : cs,
  );
  await h.core.patchNamespacedPodStatus({ name: 'ranker-1', namespace: NS, body: { status: { initContainerStatuses: statuses } } }, MERGE);
  const md = await h.until(NS, 'ranker', (m) => expect((m.status as { optimization?: unknown }).optimization).toBeDefined());
  expect((md.status as { optimization?: unknown }).optimization).toEqual({
    applied: true, reason: 'Applied', message: report.message, quantize: 'int8', originalBytes: 67142247, optimizedBytes: 16852210, speedup: 4.44, maxAbsError: 0.0012, cosine: 0.99993,
  });
  await eventually(async () => {
    const events = await h.core.listNamespacedEvent({ namespace: NS });
    expect(events.items.some((e) => e.reason === 'ModelOptimized' && e.type === 'Normal' && e.message === report.message)).toBe(true);
  });
});
