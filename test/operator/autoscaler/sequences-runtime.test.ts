// The built-in autoscaler with metric sequences against a real `modelplane serve` of the example decoder: its real
// /metrics reader scrapes the runtime's generation gauges while streams run and wait, and the decision scales on them.
import type { V1Pod } from '@kubernetes/client-node';
import { createLogger } from '../../../common/logger.js';
import type { ModelDeployment } from '../../../operator/api/schema.js';
import { BuiltinAutoscaler, DEFAULT_BUILTIN_OPTIONS, fetchMetrics, type ScaleWriter } from '../../../operator/autoscaler/builtin.js';
import type { AutoscalerStatus } from '../../../operator/autoscaler/scalers.js';
import { parseRuntimeMetrics, RUNNING_SEQUENCES_SERIES, WAITING_SEQUENCES_SERIES } from '../../../operator/autoscaler/signal.js';
import { withDefaults } from '../../../operator/api/validate.js';
import { metricValue, startRuntime, tempDir, type RuntimeProcess } from '../../support/runtime-process.js';
import { decoderDir, postJson, readEvents, waitForMetric } from '../../runtime/generate/support.js';

const tmp = tempDir('modelplane-autoscale-seq-');
let rt: RuntimeProcess;
const STREAMS = 6;
const MAX_NUM_SEQS = 2;

beforeAll(async () => {
  const model = decoderDir(tmp.path, 'tiny');
  rt = await startRuntime(['--model', model.dir, '--name', 'tiny', '--max-num-seqs', String(MAX_NUM_SEQS), '--log-level', 'warn']);
}, 60_000);
afterAll(async () => {
  await rt?.stop();
  tmp.remove();
});

/** A pod as the informer shows it, whose IP and http port are the runtime's. */
function runtimePod(): V1Pod {
  return {
    metadata: { name: 'llm-abc-1', uid: 'p1' },
    spec: { containers: [{ name: 'runtime', image: 'x', ports: [{ name: 'http', containerPort: rt.port }] }] },
    status: { podIP: '127.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

const llm: ModelDeployment = {
  apiVersion: 'serving.modelplane.io/v1alpha1',
  kind: 'ModelDeployment',
  metadata: { name: 'llm', namespace: 'ml', uid: 'u1', generation: 1 },
  spec: withDefaults({
    model: { uri: 'pvc://models/llm/model.onnx' },
    replicas: 1,
    autoscaling: { metric: 'sequences', maxReplicas: 8, targetSequences: 2 },
    runtime: { generation: { maxNumSeqs: MAX_NUM_SEQS } },
  }),
};

test('idle: the gauges are there and read as zero sequences', async () => {
  const counters = parseRuntimeMetrics(await fetchMetrics(`${rt.url}/metrics`, 2000));
  expect(counters?.sequences).toBe(0);
});

test('streams running and waiting are scraped from the real runtime and scale the ModelDeployment', async () => {
  const streams = Array.from({ length: STREAMS }, (_, i) => postJson(`${rt.url}/v1/completions`, {
    model: 'tiny', prompt: [5 + i, 9, 13], max_tokens: 1500, ignore_eos: true, temperature: 0, stream: true,
  }).then((res) => readEvents(res)));
  // Every stream admitted: MAX_NUM_SEQS running, the rest waiting for room.
  await waitForMetric(rt.url, WAITING_SEQUENCES_SERIES, (v) => v === STREAMS - MAX_NUM_SEQS, 'model="tiny"');
  const text = await fetchMetrics(`${rt.url}/metrics`, 2000);
  const running = metricValue(text, RUNNING_SEQUENCES_SERIES, 'model="tiny"');
  const waiting = metricValue(text, WAITING_SEQUENCES_SERIES, 'model="tiny"');
  expect(running).toBeGreaterThanOrEqual(1);
  expect(running).toBeLessThanOrEqual(MAX_NUM_SEQS);
  expect(parseRuntimeMetrics(text)!.sequences).toBe(running + waiting);

  const scales: number[] = [];
  const statuses: AutoscalerStatus[] = [];
  const writer: ScaleWriter = { scale: async (_md, n) => void scales.push(n), writeStatus: async (_md, s) => void statuses.push(s), event: () => {} };
  const log = createLogger('test', 'error');
  const autoscaler = new BuiltinAutoscaler({ modelDeployments: () => [llm], pods: () => [runtimePod()] }, writer, log, DEFAULT_BUILTIN_OPTIONS, fetchMetrics);
  await autoscaler.step();
  // About six sequences on one replica, two wanted per replica: a scale-up in one step (panic), never past maxReplicas.
  expect(scales).toHaveLength(1);
  expect(scales[0]).toBeGreaterThanOrEqual(2);
  expect(scales[0]).toBeLessThanOrEqual(3);
  expect(statuses.at(-1)!.averageSequences).toBeGreaterThan(2);
  expect(statuses.at(-1)!.reason).toMatch(/sequences .*target 2/);
  await autoscaler.stop();
  const done = await Promise.all(streams);
  for (const events of done) expect(events.at(-1)).toBe('[DONE]');
}, 120_000);
