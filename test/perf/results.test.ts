import { toCsv, verdict, withDrift, type PerfResults, type StepResult } from '../../perf/results.js';

const latencyMs = { min: 1, mean: 2, p50: 2, p90: 3, p95: 4, p99: 5, max: 9 };
const step = (over: Partial<StepResult> = {}): StepResult => ({ concurrency: 1, durationS: 1, requests: 100, throughput: 100, latencyMs, errorCount: 0, errors: {}, server: null, clientCpu: 0.2, ...over });
const settings = { maxErrorRate: 0, maxDriftPct: 50 };

test.each([
  ['clean', [step()], undefined, settings, 0, []],
  ['errors past the limit', [step(), step({ errorCount: 2, errors: { '503 QueueFull': 2 } })], undefined, settings, 5, ['ErrorRateExceeded: 2 of 200 requests failed (1.00%), above --max-error-rate 0.00%']],
  ['errors within the limit', [step(), step({ errorCount: 2 })], undefined, { ...settings, maxErrorRate: 0.01 }, 0, []],
  ['nothing answered', [step({ requests: 0 })], undefined, settings, 5, ['ErrorRateExceeded: no request was answered']],
  ['drift past the limit', [step()], { driftPct: 80 }, settings, 6, ['DriftExceeded: median latency drifted 80% from the first soak interval to the last, above --max-drift 50%']],
  ['drift within the limit', [step()], { driftPct: 40 }, settings, 0, []],
  ['errors and drift: the error code first', [step({ errorCount: 1 })], { driftPct: 80 }, settings, 5, [expect.stringMatching(/^ErrorRateExceeded/), expect.stringMatching(/^DriftExceeded/)]],
] as [string, StepResult[], { driftPct: number } | undefined, typeof settings, number, unknown[]][])('verdict: %s', (_n, steps, soak, s, code, reasons) => {
  expect(verdict({ steps, soak: soak as PerfResults['soak'], settings: s })).toEqual({ ok: code === 0, exitCode: code, reasons });
});

test('drift is each interval against the first', () => {
  const ivs = withDrift([{ latencyMs: { p50: 2, p99: 10 } }, { latencyMs: { p50: 3, p99: 10 } }, { latencyMs: { p50: 1, p99: 25 } }]);
  expect(ivs.map((i) => i.driftPct)).toEqual([{ p50: 0, p99: 0 }, { p50: 50, p99: 0 }, { p50: -50, p99: 150 }]);
});

test('CSV: a row per step and per soak interval, fields quoted where needed', () => {
  const r = {
    steps: [step({ errorCount: 3, errors: { '503 QueueFull': 2, 'ECONNRESET': 1 }, server: { queueMs: 0.5, computeMs: 1.25, batchSize: 2 } })],
    soak: { concurrency: 1, intervals: [{ startS: 0, endS: 1, requests: 10, throughput: 10, latencyMs, errorCount: 0, errors: {}, driftPct: { p50: 0, p99: 0 }, server: null, residentBytes: 1000 }] },
  } as unknown as PerfResults;
  const lines = toCsv(r).trim().split('\n');
  expect(lines).toHaveLength(3);
  // Inference rows leave the generation columns empty.
  expect(lines[1]).toBe('step,1,,,1,100,100,2,3,4,5,9,2,3,503 QueueFull=2; ECONNRESET=1,0.5,1.25,2,0.2,,,,,,,,,,');
  expect(lines[2]).toBe('soak,1,,0,1,10,10,2,3,4,5,9,2,0,,,,,,1000,,,,,,,,,');
});

test('CSV: a generation step fills the ttft, itl, token and server columns', () => {
  const generation = { ttftMs: { p50: 10, p90: 20, p99: 30 }, itlMs: { p50: 1.5, p99: 2.5 }, outputTokens: 640, outputTokensPerS: 320, requestsPerS: 5, promptTokens: { asked: 128, counted: 128 } };
  const r = { steps: [step({ rate: 5, concurrency: undefined, generation, server: { queueMs: 0.1, computeMs: null, batchSize: 3, ttftMs: 8, itlMs: 1.2 } })] } as unknown as PerfResults;
  const [head, row] = toCsv(r).trim().split('\n').map((l) => l.split(','));
  const cell = (name: string) => row[head.indexOf(name)];
  expect(head.slice(-9)).toEqual(['ttft_p50_ms', 'ttft_p90_ms', 'ttft_p99_ms', 'itl_p50_ms', 'itl_p99_ms', 'output_tokens', 'output_tokens_per_s', 'server_ttft_ms', 'server_itl_ms']);
  expect(row.slice(-9)).toEqual(['10', '20', '30', '1.5', '2.5', '640', '320', '8', '1.2']);
  expect([cell('rate'), cell('server_compute_ms'), cell('server_batch_size')]).toEqual(['5', '', '3']);
});
