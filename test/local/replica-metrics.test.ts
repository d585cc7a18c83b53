// The router's /metrics sums the runtime's counters and histograms over the replicas, keeps what a replica that went
// away had counted, and gives each replica's resident memory.
import { parsePrometheusText } from '../../common/prometheus-text.js';
import { ReplicaMetrics, type ScrapeTarget } from '../../local/replica-metrics.js';
import { serverSnapshot } from '../../perf/server-metrics.js';

const runtimeText = (model: string, queueSum: number, queueCount: number, requests: number, rss: number) => `# HELP modelplane_inference_queue_duration_seconds Time a request waited in the queue before its batch ran, seconds
# TYPE modelplane_inference_queue_duration_seconds histogram
modelplane_inference_queue_duration_seconds_bucket{le="0.001",model="${model}"} ${queueCount}
modelplane_inference_queue_duration_seconds_bucket{le="+Inf",model="${model}"} ${queueCount}
modelplane_inference_queue_duration_seconds_sum{model="${model}"} ${queueSum}
modelplane_inference_queue_duration_seconds_count{model="${model}"} ${queueCount}
# HELP modelplane_inference_requests_total Inference requests
# TYPE modelplane_inference_requests_total counter
modelplane_inference_requests_total{model="${model}",protocol="http",outcome="success"} ${requests}
# HELP modelplane_inference_inflight_requests Requests received and not yet answered
# TYPE modelplane_inference_inflight_requests gauge
modelplane_inference_inflight_requests{model="${model}"} 3
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes ${rss}
# HELP nodejs_gc_duration_seconds GC
# TYPE nodejs_gc_duration_seconds histogram
nodejs_gc_duration_seconds_sum{kind="minor"} 1
`;

const target = (replica: string, pid: number, port: number, model = 'simple'): ScrapeTarget => ({ modelDeployment: model, model, replica, pid, port });
const value = (text: string, name: string, labels: Record<string, string> = {}) =>
  parsePrometheusText(text).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).map((s) => s.value);

test('sums each series over the replicas; leaves out gauges and non-modelplane families; gives each replica\'s memory', async () => {
  const texts: Record<number, string> = { 1: runtimeText('simple', 0.5, 10, 10, 100), 2: runtimeText('simple', 1.5, 30, 30, 200), 3: runtimeText('other', 7, 7, 7, 50) };
  const m = new ReplicaMetrics(1000, async (url) => texts[Number(new URL(url).port)]);
  const text = await m.collect([target('simple-a', 11, 1), target('simple-b', 12, 2), target('other-a', 13, 3, 'other')]);
  expect(value(text, 'modelplane_inference_queue_duration_seconds_sum', { model: 'simple' })).toEqual([2]);
  expect(value(text, 'modelplane_inference_queue_duration_seconds_count', { model: 'simple' })).toEqual([40]);
  expect(value(text, 'modelplane_inference_queue_duration_seconds_bucket', { model: 'simple', le: '+Inf' })).toEqual([40]);
  expect(value(text, 'modelplane_inference_requests_total', { model: 'other', outcome: 'success' })).toEqual([7]);
  expect(text).toContain('# TYPE modelplane_inference_queue_duration_seconds histogram');
  expect(value(text, 'modelplane_inference_inflight_requests')).toEqual([]);
  expect(value(text, 'nodejs_gc_duration_seconds_sum')).toEqual([]);
  expect(value(text, 'process_resident_memory_bytes')).toEqual([]);
  expect(value(text, 'modelplane_local_replica_resident_memory_bytes', { model: 'simple' }).sort()).toEqual([100, 200]);
  // What perf reads from it: the breakdown of one model, its replicas' memory.
  expect(serverSnapshot(text, 'simple')).toEqual({ queue: { sum: 2, count: 40 }, compute: undefined, batch: undefined, residentBytes: 300 });
});

test('a replica that goes away or restarts leaves its counts in the sums; one that does not answer keeps its last', async () => {
  const texts: Record<number, string | undefined> = { 1: runtimeText('simple', 1, 10, 10, 100), 2: runtimeText('simple', 2, 20, 20, 100) };
  const m = new ReplicaMetrics(1000, async (url) => {
    const t = texts[Number(new URL(url).port)];
    if (t === undefined) throw new Error('no answer');
    return t;
  });
  const count = async (targets: ScrapeTarget[]) => value(await m.collect(targets), 'modelplane_inference_queue_duration_seconds_count')[0];
  expect(await count([target('a', 11, 1), target('b', 12, 2)])).toBe(30);
  // b restarts: a new process whose counts start again.
  texts[2] = runtimeText('simple', 0.1, 1, 1, 100);
  expect(await count([target('a', 11, 1), target('b', 99, 2)])).toBe(31);
  // a does not answer: its last values count; then it is gone for good.
  texts[1] = undefined;
  expect(await count([target('a', 11, 1), target('b', 99, 2)])).toBe(31);
  expect(await count([target('b', 99, 2)])).toBe(31);
  texts[2] = runtimeText('simple', 0.2, 5, 5, 100);
  expect(await count([target('b', 99, 2)])).toBe(35);
  expect(await count([])).toBe(35);
});
