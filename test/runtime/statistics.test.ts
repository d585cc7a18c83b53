// Triton's statistics extension: the recorder's snapshot, and the three routes over real HTTP.
import { simpleModel } from '../../examples/onnx-models.js';
import { ModelStatisticsRecorder, statisticsResponse } from '../../runtime/statistics.js';
import { infer, modelFile, startRuntime, tempDir, type RuntimeProcess } from '../support/runtime-process.js';

describe('the recorder', () => {
  test('a snapshot in Triton\'s shape, batch sizes in order, times in nanoseconds', () => {
    const r = new ModelStatisticsRecorder('m', '1');
    const a = {};
    const b = {};
    r.dequeued(a, 0.001);
    r.dequeued(b, 0.002);
    r.executed(4, 0.010);
    r.executed(1, 0.003);
    r.executed(4, 0.020);
    r.succeeded({ totalSeconds: 0.05, queueSeconds: r.takeQueueSeconds(a), inputSeconds: 0.0001, inferSeconds: 0.01, outputSeconds: 0.0002, inferences: 3 }, 1_700_000_000_123);
    r.failed(0.004);
    expect(r.takeQueueSeconds(a)).toBe(0); // taken once
    expect(r.snapshot()).toEqual({
      name: 'm',
      version: '1',
      last_inference: 1_700_000_000_123,
      inference_count: 3,
      execution_count: 3,
      inference_stats: {
        success: { count: 1, ns: 50_000_000 },
        fail: { count: 1, ns: 4_000_000 },
        queue: { count: 1, ns: 1_000_000 },
        compute_input: { count: 1, ns: 100_000 },
        compute_infer: { count: 1, ns: 10_000_000 },
        compute_output: { count: 1, ns: 200_000 },
        cache_hit: { count: 0, ns: 0 },
        cache_miss: { count: 0, ns: 0 },
      },
      batch_stats: [
        { batch_size: 1, compute_input: { count: 0, ns: 0 }, compute_infer: { count: 1, ns: 3_000_000 }, compute_output: { count: 0, ns: 0 } },
        { batch_size: 4, compute_input: { count: 0, ns: 0 }, compute_infer: { count: 2, ns: 30_000_000 }, compute_output: { count: 0, ns: 0 } },
      ],
    });
  });

  test('the response lists every model, or the one asked for at the version asked for', () => {
    const r = new ModelStatisticsRecorder('m', '1');
    expect(statisticsResponse([r]).model_stats.map((s) => s.name)).toEqual(['m']);
    expect(statisticsResponse([r], { name: 'm', version: '1' }).model_stats).toHaveLength(1);
    expect(statisticsResponse([r], { name: 'other' }).model_stats).toEqual([]);
    expect(statisticsResponse([r], { name: 'm', version: '2' }).model_stats).toEqual([]);
  });
});

describe('over HTTP', () => {
  const dir = tempDir();
  let rt: RuntimeProcess;
  beforeAll(async () => {
    rt = await startRuntime(['--model', modelFile(dir.path, 'simple', simpleModel()), '--max-batch-size', '8', '--max-queue-delay-us', '20000', '--log-level', 'error']);
  });
  afterAll(async () => {
    await rt?.stop();
    dir.remove();
  });

  const request = (rows: number) => ({
    inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, shape: [rows, 16], datatype: 'FP32', data: Array(16 * rows).fill(1) })),
  });

  test('server metadata advertises the extension', async () => {
    expect((await (await fetch(`${rt.url}/v2`)).json()).extensions).toContain('statistics');
  });

  test('counts what was served: requests, rows, runs per batch size, failures, and each stage\'s time', async () => {
    const before = Date.now();
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => infer(rt.url, 'simple', request(1 + (i % 3)))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect((await infer(rt.url, 'simple', { inputs: [] })).status).toBe(400);
    const all = await (await fetch(`${rt.url}/v2/models/stats`)).json();
    const one = await (await fetch(`${rt.url}/v2/models/simple/stats`)).json();
    const versioned = await (await fetch(`${rt.url}/v2/models/simple/versions/1/stats`)).json();
    for (const body of [all, one, versioned]) expect(body.model_stats).toHaveLength(1);
    const s = one.model_stats[0];
    expect(s).toMatchObject({ name: 'simple', version: '1' });
    expect(s.last_inference).toBeGreaterThanOrEqual(before);
    expect(s.last_inference).toBeLessThanOrEqual(Date.now());
    // Rows: 8 requests each of 1, 2 and 3 rows.
    expect(s.inference_count).toBe(48);
    const st = s.inference_stats;
    expect(st.success.count).toBe(24);
    expect(st.fail.count).toBe(1);
    for (const stage of ['queue', 'compute_input', 'compute_infer', 'compute_output']) {
      expect({ stage, count: st[stage].count }).toEqual({ stage, count: 24 });
      expect(st[stage].ns).toBeGreaterThan(0);
    }
    expect(st.success.ns).toBeGreaterThanOrEqual(st.queue.ns + st.compute_infer.ns);
    expect(st.cache_hit).toEqual({ count: 0, ns: 0 });
    // Every run is in batch_stats under its row count; the rows add up to what was sent.
    const runs = s.batch_stats.reduce((n: number, b: { compute_infer: { count: number } }) => n + b.compute_infer.count, 0);
    const rows = s.batch_stats.reduce((n: number, b: { batch_size: number; compute_infer: { count: number } }) => n + b.batch_size * b.compute_infer.count, 0);
    expect(runs).toBe(s.execution_count);
    expect(rows).toBe(48);
    expect(s.execution_count).toBeLessThan(24); // requests shared runs
  });

  test('unknown model or version: 404 with the reason', async () => {
    const r1 = await fetch(`${rt.url}/v2/models/nope/stats`);
    expect(r1.status).toBe(404);
    expect(await r1.json()).toEqual({ error: "Request for unknown model: 'nope' is not found", reason: 'ModelNotFound' });
    const r2 = await fetch(`${rt.url}/v2/models/simple/versions/3/stats`);
    expect(r2.status).toBe(404);
    expect((await r2.json()).reason).toBe('VersionNotFound');
    expect((await fetch(`${rt.url}/v2/models/stats`, { method: 'POST' })).status).toBe(405);
  });
});
