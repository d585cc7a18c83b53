// The dashboard's generation figures from replicas' metrics: totals that survive restarts and replicas coming and going,
// rates over the last window, and the scrape that feeds them (a replica that does not generate gives none).
import { parsePrometheusText } from '../../common/prometheus-text.js';
import { GenerationMeter, GenerationStats, replicaGeneration, type ReplicaGeneration } from '../../local/generation-meter.js';
import type { ScrapeTarget } from '../../local/replica-metrics.js';

const g = (tokens: number, ttftSum = 0, ttftCount = 0, running = 0, waiting = 0): ReplicaGeneration => ({ tokens, ttftSum, ttftCount, running, waiting });

const generationText = (tokens: number, ttftSum: number, ttftCount: number, running: number) => `# TYPE modelplane_generation_tokens_total counter
modelplane_generation_tokens_total{model="chat"} ${tokens}
# TYPE modelplane_generation_time_to_first_token_seconds histogram
modelplane_generation_time_to_first_token_seconds_bucket{le="+Inf",model="chat"} ${ttftCount}
modelplane_generation_time_to_first_token_seconds_sum{model="chat"} ${ttftSum}
modelplane_generation_time_to_first_token_seconds_count{model="chat"} ${ttftCount}
# TYPE modelplane_generation_running_sequences gauge
modelplane_generation_running_sequences{model="chat"} ${running}
modelplane_generation_waiting_sequences{model="chat"} 0
`;

test('replicaGeneration reads the generation families, and nothing from a replica that does not generate', () => {
  expect(replicaGeneration(parsePrometheusText(generationText(40, 0.5, 2, 1)))).toEqual({ tokens: 40, ttftSum: 0.5, ttftCount: 2, running: 1, waiting: 0 });
  expect(replicaGeneration(parsePrometheusText('modelplane_inference_requests_total{model="simple"} 3\n'))).toBeUndefined();
});

test('rates over the window: tokens per second and mean time to first token from the growth of the totals', () => {
  const m = new GenerationMeter();
  m.observe(0, new Map([['a/1', g(100, 1, 10)]]));
  // Seen for the first time: a baseline, not tokens of this window.
  expect(m.summary(0)).toMatchObject({ tokensPerSecond: 0, timeToFirstTokenSeconds: null });
  m.observe(2000, new Map([['a/1', g(300, 1.4, 12, 2, 1)]]));
  expect(m.summary(2000)).toEqual({ tokensPerSecond: 100, timeToFirstTokenSeconds: expect.closeTo(0.2, 9), runningSequences: 2, waitingSequences: 1, windowSeconds: 10 });
  // Idle later: the window's base moves on, the rate falls to zero, no sequence started.
  m.observe(15_000, new Map([['a/1', g(300, 1.4, 12)]]));
  m.observe(16_000, new Map([['a/1', g(300, 1.4, 12)]]));
  expect(m.summary(16_000)).toMatchObject({ tokensPerSecond: 0, timeToFirstTokenSeconds: null, runningSequences: 0 });
});

test('a restarted replica (a new process, or a counter that went down) and a new replica only add; one gone stops counting', () => {
  const m = new GenerationMeter();
  m.observe(0, new Map([['a/1', g(50)], ['b/2', g(10)]]));
  // a restarted as a new process (a/3); b's counter went down (it restarted between scrapes): counted from zero.
  m.observe(1000, new Map([['a/3', g(20)], ['b/2', g(5)]]));
  expect(m.summary(1000).tokensPerSecond).toBe(5);
  m.observe(2000, new Map([['a/3', g(40)], ['b/2', g(15)]]));
  expect(m.summary(2000).tokensPerSecond).toBe(17.5);
  m.observe(3000, new Map([['a/3', g(40)]]));
  expect(m.summary(3000).tokensPerSecond).toBeCloseTo(35 / 3);
});

test('GenerationStats scrapes each replica, keeps figures for generative deployments only, and scrapes at most every 500 ms', async () => {
  let tokens = 0;
  const reads: string[] = [];
  const stats = new GenerationStats(async (url) => {
    reads.push(url);
    if (url.includes(':2/')) return 'modelplane_inference_requests_total{model="simple"} 1\n';
    if (url.includes(':3/')) throw new Error('down');
    return generationText(tokens, 0.1 * tokens, tokens / 10, 1);
  });
  const targets: ScrapeTarget[] = [
    { modelDeployment: 'chat', model: 'chat', replica: 'chat-0', pid: 10, port: 1 },
    { modelDeployment: 'simple', model: 'simple', replica: 'simple-0', pid: 11, port: 2 },
    { modelDeployment: 'broken', model: 'broken', replica: 'broken-0', pid: 12, port: 3 },
  ];
  await stats.refresh(targets, 0);
  tokens = 100;
  await stats.refresh(targets, 100);
  expect(reads).toHaveLength(3);
  await stats.refresh(targets, 1000);
  expect(reads).toHaveLength(6);
  expect(stats.summary('chat', 1000)).toMatchObject({ tokensPerSecond: 100, timeToFirstTokenSeconds: 1, runningSequences: 1 });
  expect(stats.summary('simple', 1000)).toBeNull();
  expect(stats.summary('broken', 1000)).toBeNull();
});
