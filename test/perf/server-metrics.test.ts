// The server breakdown, read from the runtime's own metrics registry (the exporter perf scrapes).
import { RuntimeMetrics } from '../../runtime/metrics.js';
import { parsePrometheusText } from '../../common/prometheus-text.js';
import { hasServerHistograms, serverBreakdown, serverSnapshot } from '../../perf/server-metrics.js';

test('queue, compute and batch size over a step come from the histograms\' sum and count deltas', async () => {
  const m = new RuntimeMetrics('simple', { inflight: () => 0, queued: () => 0 });
  const other = 'other';
  m.queueSeconds.observe({ model: 'simple' }, 5); // before the step: must not count
  m.computeSeconds.observe({ model: 'simple' }, 5);
  m.batchSize.observe({ model: 'simple' }, 64);
  const before = serverSnapshot(await m.registry.metrics(), 'simple');
  for (const q of [0.001, 0.003]) m.queueSeconds.observe({ model: 'simple' }, q);
  m.queueSeconds.observe({ model: other }, 100); // another model: must not count
  for (const c of [0.002, 0.004, 0.006]) m.computeSeconds.observe({ model: 'simple' }, c);
  for (const b of [1, 2, 6]) m.batchSize.observe({ model: 'simple' }, b);
  const after = serverSnapshot(await m.registry.metrics(), 'simple');
  expect(serverBreakdown(before, after)).toEqual({ queueMs: 2, computeMs: 4, batchSize: 3 });
  expect(after.residentBytes).toBeGreaterThan(0);
});

test.each([
  ['no scrape', undefined, undefined, null],
  ['a server without these metrics', {}, {}, null],
  ['no request in between', { queue: { sum: 1, count: 2 } }, { queue: { sum: 1, count: 2 } }, null],
  ['only some histograms', { queue: { sum: 1, count: 2 } }, { queue: { sum: 1.5, count: 4 } }, { queueMs: 250, computeMs: null, batchSize: null }],
])('breakdown with %s', (_n, a, b, want) => expect(serverBreakdown(a, b)).toEqual(want));

test('the text format: labels with escapes, special values, comments, series without a model label', () => {
  const text = [
    '# HELP x help',
    '# TYPE x counter',
    'x{a="q\\"uo\\\\te",b="new\\nline"} 3',
    'y +Inf',
    'z NaN',
    'modelplane_inference_queue_duration_seconds_sum 0.5',
    'modelplane_inference_queue_duration_seconds_count 5',
    'process_resident_memory_bytes 1234',
    'garbage line here',
    'w{c="back\\\\nslash"} 1',
  ].join('\n');
  const samples = parsePrometheusText(text);
  expect(samples[0]).toEqual({ name: 'x', labels: { a: 'q"uo\\te', b: 'new\nline' }, value: 3 });
  expect(samples[1].value).toBe(Infinity);
  expect(Number.isNaN(samples[2].value)).toBe(true);
  // An escaped backslash before an n is a backslash and an n, not a newline.
  expect(samples.find((x) => x.name === 'w')!.labels.c).toBe('back\\nslash');
  expect(serverSnapshot(text, 'any')).toEqual({ queue: { sum: 0.5, count: 5 }, compute: undefined, batch: undefined, residentBytes: 1234 });
});

test.each([
  ['a router\'s metrics', 'modelplane_local_requests_in_flight{model="simple"} 0\nmodelplane_local_replicas{modeldeployment="simple",phase="ready"} 1', false],
  ['another model\'s histograms only', 'modelplane_inference_batch_size_sum{model="other"} 4\nmodelplane_inference_batch_size_count{model="other"} 2', false],
  ['the runtime\'s histograms for the model', 'modelplane_inference_batch_size_sum{model="simple"} 4\nmodelplane_inference_batch_size_count{model="simple"} 2', true],
])('whether %s can give a breakdown for model simple', (_n, text, want) => expect(hasServerHistograms(serverSnapshot(text, 'simple'))).toBe(want));
