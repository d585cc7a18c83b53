import { loadSample, nextBaseline, parseGatewayMetrics, parseRuntimeMetrics, podRates, sequencesSample, sumGatewayLoads, withGatewayLoad, type PodScrape } from '../../../operator/autoscaler/signal.js';
import type { LoadSample } from '../../../operator/autoscaler/decision.js';

const scrape = (pod: string, time: number, c: Partial<PodScrape> = {}): PodScrape => ({ pod, time, concurrencySeconds: 0, rejected: 0, durationSum: 0, durationCount: 0, ...c });

describe('parseRuntimeMetrics', () => {
  const text = [
    '# HELP modelplane_request_concurrency_seconds_total Integral over time of requests in flight',
    '# TYPE modelplane_request_concurrency_seconds_total counter',
    'modelplane_request_concurrency_seconds_total{model="resnet"} 12.5',
    'modelplane_inference_requests_total{model="resnet",outcome="success"} 90',
    'modelplane_inference_requests_total{model="resnet",outcome="rejected"} 7',
    'modelplane_inference_requests_total{model="re\\"sn,et",outcome="rejected"} 3 1700000000000',
    'modelplane_inference_request_duration_seconds_bucket{le="+Inf",model="resnet"} 100',
    'modelplane_inference_request_duration_seconds_sum{model="resnet"} 4.25',
    'modelplane_inference_request_duration_seconds_count{model="resnet"} 100',
    'process_cpu_seconds_total 3',
    'modelplane_inference_inflight_requests{model="resnet"} NaN',
    'garbage line',
  ].join('\n');

  test('reads exactly the series the autoscaler needs, summed over models', () => {
    expect(parseRuntimeMetrics(text)).toEqual({ concurrencySeconds: 12.5, rejected: 10, durationSum: 4.25, durationCount: 100 });
  });

  test('a target without the concurrency counter gives nothing (it is not read as idle)', () => {
    expect(parseRuntimeMetrics('modelplane_inference_requests_total{outcome="rejected"} 3\n')).toBeUndefined();
    expect(parseRuntimeMetrics('<html>not metrics</html>')).toBeUndefined();
    expect(parseRuntimeMetrics('')).toBeUndefined();
  });
});

describe('the generation gauges', () => {
  const base = 'modelplane_request_concurrency_seconds_total{model="llm"} 3\n';
  test('running and waiting sequences are summed into sequences, over models', () => {
    const text = `${base}modelplane_generation_running_sequences{model="llm"} 5\nmodelplane_generation_waiting_sequences{model="llm"} 2\nmodelplane_generation_kv_cache_bytes{model="llm"} 999\n`;
    expect(parseRuntimeMetrics(text)).toEqual({ concurrencySeconds: 3, rejected: 0, durationSum: 0, durationCount: 0, sequences: 7 });
  });
  test('a runtime serving no generative model has no sequences (not zero)', () => {
    expect(parseRuntimeMetrics(base)!.sequences).toBeUndefined();
  });
  test('sequences at zero are zero', () => {
    expect(parseRuntimeMetrics(`${base}modelplane_generation_running_sequences{model="llm"} 0\nmodelplane_generation_waiting_sequences{model="llm"} 0\n`)!.sequences).toBe(0);
  });
});

describe('sequencesSample', () => {
  test('sums the gauges, extrapolates to every ready pod, and needs no earlier scrape', () => {
    const now = 10_000;
    const current = [scrape('a', now, { sequences: 6 }), scrape('b', now, { sequences: 2 })];
    expect(sequencesSample(new Map(), current, 4, now, 2)).toEqual({ time: now, seconds: 2, concurrency: 16, rejectedConcurrency: 0, rejected: 0 });
  });
  test('pods without the gauges are left out; none at all gives no sample', () => {
    const now = 1000;
    expect(sequencesSample(new Map(), [scrape('a', now, { sequences: 3 }), scrape('b', now)], 2, now, 2)!.concurrency).toBe(6);
    expect(sequencesSample(new Map(), [scrape('a', now)], 1, now, 2)).toBeUndefined();
  });
  test('refusals between two scrapes become sequences by Little\'s law, as they become concurrency', () => {
    const previous = new Map([['a', scrape('a', 0, { sequences: 4 })]]);
    const current = [scrape('a', 2000, { sequences: 4, rejected: 10, durationSum: 8, durationCount: 14 })];
    // 10 refused in 2 s, served sequences last 2 s each: 10 sequences turned away.
    expect(sequencesSample(previous, current, 1, 2000, 2)).toEqual({ time: 2000, seconds: 2, concurrency: 4, rejectedConcurrency: 10, rejected: 10 });
  });
});

describe('podRates', () => {
  test.each([
    { name: 'no previous scrape', prev: undefined, cur: scrape('a', 2000, { concurrencySeconds: 5 }), want: undefined },
    { name: 'same instant', prev: scrape('a', 2000), cur: scrape('a', 2000), want: undefined },
    { name: 'another pod incarnation', prev: scrape('a/1', 0), cur: scrape('a/2', 2000), want: undefined },
    {
      name: 'steady: rate of the integral is the average concurrency',
      prev: scrape('a', 0, { concurrencySeconds: 10, durationSum: 5, durationCount: 10 }),
      cur: scrape('a', 2000, { concurrencySeconds: 18, durationSum: 13, durationCount: 26 }),
      want: { pod: 'a', seconds: 2, concurrency: 4, rejectedPerSecond: 0, rejected: 0, latency: 0.5 },
    },
    {
      name: 'rejections: latency is that of served requests',
      prev: scrape('a', 0, { concurrencySeconds: 0, rejected: 0, durationSum: 0, durationCount: 0 }),
      cur: scrape('a', 2000, { concurrencySeconds: 16, rejected: 20, durationSum: 8, durationCount: 36 }),
      want: { pod: 'a', seconds: 2, concurrency: 8, rejectedPerSecond: 10, rejected: 20, latency: 0.5 },
    },
    {
      name: 'counter reset (restarted container): the new values are the increase',
      prev: scrape('a', 0, { concurrencySeconds: 500, durationSum: 100, durationCount: 1000 }),
      cur: scrape('a', 2000, { concurrencySeconds: 3, durationSum: 1, durationCount: 4 }),
      want: { pod: 'a', seconds: 2, concurrency: 1.5, rejectedPerSecond: 0, rejected: 0, latency: 0.25 },
    },
  ])('$name', ({ prev, cur, want }) => {
    expect(podRates(prev, cur)).toEqual(want);
  });
});

describe('loadSample', () => {
  test('sums per-pod rates over the pods measured twice', () => {
    const prev = new Map([['a', scrape('a', 0)], ['b', scrape('b', 0)]]);
    const s = loadSample(prev, [scrape('a', 2000, { concurrencySeconds: 6 }), scrape('b', 2000, { concurrencySeconds: 10 })], 2, 2000);
    expect(s).toEqual({ time: 2000, seconds: 2, concurrency: 8, rejectedConcurrency: 0, rejected: 0 });
  });

  test('extrapolates to every ready pod when some have no previous scrape or did not answer', () => {
    const prev = new Map([['a', scrape('a', 0)]]);
    // a measured at 3 concurrency; b is new; c did not answer: 3 ready pods carry 9.
    const s = loadSample(prev, [scrape('a', 2000, { concurrencySeconds: 6 }), scrape('b', 2000, { concurrencySeconds: 1 })], 3, 2000);
    expect(s?.concurrency).toBeCloseTo(9);
  });

  test('a scrape of only new pods yields no sample', () => {
    expect(loadSample(new Map(), [scrape('x', 2000, { concurrencySeconds: 40 }), scrape('y', 2000)], 2, 2000)).toBeUndefined();
    const prev = new Map([['old', scrape('old', 0)]]);
    expect(loadSample(prev, [scrape('new', 2000, { concurrencySeconds: 40 })], 1, 2000)).toBeUndefined();
  });

  test("rejections become concurrency by Little's law, and a pod that served nothing borrows its peers' latency", () => {
    const prev = new Map([['a', scrape('a', 0)], ['b', scrape('b', 0)]]);
    const s = loadSample(prev, [
      scrape('a', 2000, { concurrencySeconds: 8, rejected: 10, durationSum: 4, durationCount: 18 }), // 8 served at 0.5 s, 5 refused/s
      scrape('b', 2000, { concurrencySeconds: 8, rejected: 4, durationSum: 0, durationCount: 4 }), // only refusals, 2/s
    ], 2, 2000)!;
    expect(s.concurrency).toBeCloseTo(8);
    expect(s.rejectedConcurrency).toBeCloseTo(5 * 0.5 + 2 * 0.5);
    expect(s.rejected).toBe(14);
  });
});

test('nextBaseline keeps a missed pod\'s older scrape and drops pods that are gone', () => {
  const prev = new Map([['a', scrape('a', 0)], ['b', scrape('b', 0)], ['gone', scrape('gone', 0)]]);
  const next = nextBaseline(prev, [scrape('a', 2000), scrape('c', 2000)], new Set(['a', 'b', 'c']));
  expect([...next.entries()].map(([k, v]) => `${k}@${v.time}`).sort()).toEqual(['a@2000', 'b@0', 'c@2000']);
});

describe('the gateway\'s gauges', () => {
  const text = [
    '# HELP modelplane_gateway_requests_in_flight Requests the gateway is forwarding to a replica.',
    '# TYPE modelplane_gateway_requests_in_flight gauge',
    'modelplane_gateway_requests_in_flight{namespace="ml",modeldeployment="chat",model="chat"} 3',
    'modelplane_gateway_requests_in_flight{namespace="ml",modeldeployment="chat",model="chat-lora"} 1',
    'modelplane_gateway_requests_held{namespace="ml",modeldeployment="chat",model="chat"} 2',
    'modelplane_gateway_requests_held{namespace="ml",modeldeployment="resnet",model="resnet"} 5',
    'modelplane_gateway_requests_held{namespace="other",modeldeployment="resnet",model="resnet"} 1',
    'modelplane_gateway_requests_in_flight{modeldeployment="nameless"} 9',
    'modelplane_request_concurrency_seconds_total{model="x"} 40',
  ].join('\n');

  test('parseGatewayMetrics: in flight and held per namespace/ModelDeployment, models summed, series without both labels ignored', () => {
    expect(parseGatewayMetrics(text)).toEqual(new Map([
      ['ml/chat', { inFlight: 4, held: 2 }],
      ['ml/resnet', { inFlight: 0, held: 5 }],
      ['other/resnet', { inFlight: 0, held: 1 }],
    ]));
  });

  test('sumGatewayLoads adds the gateway pods up', () => {
    const one = new Map([['ml/chat', { inFlight: 1, held: 2 }]]);
    const two = new Map([['ml/chat', { inFlight: 3, held: 0 }], ['ml/x', { inFlight: 0, held: 1 }]]);
    expect(sumGatewayLoads([one, two])).toEqual(new Map([['ml/chat', { inFlight: 4, held: 2 }], ['ml/x', { inFlight: 0, held: 1 }]]));
  });

  test.each<[string, LoadSample | undefined, { inFlight: number; held: number } | undefined, LoadSample | undefined]>([
    ['no gateway: the pods\' sample as it was', { time: 4, seconds: 2, concurrency: 3, rejectedConcurrency: 1, rejected: 2 }, undefined, { time: 4, seconds: 2, concurrency: 3, rejectedConcurrency: 1, rejected: 2 }],
    ['the pods measured more than the gateway forwards: theirs, plus held', { time: 4, seconds: 2, concurrency: 8, rejectedConcurrency: 1, rejected: 2 }, { inFlight: 6, held: 2 }, { time: 4, seconds: 2, concurrency: 10, rejectedConcurrency: 1, rejected: 2 }],
    ['the gateway forwards more than the pods\' average showed: the gateway\'s, plus held', { time: 4, seconds: 2, concurrency: 2, rejectedConcurrency: 0, rejected: 0 }, { inFlight: 5, held: 1 }, { time: 4, seconds: 2, concurrency: 6, rejectedConcurrency: 0, rejected: 0 }],
    ['no pod sample (at zero) with held requests: a sample of the gateway\'s demand', undefined, { inFlight: 0, held: 3 }, { time: 4, seconds: 2, concurrency: 3, rejectedConcurrency: 0, rejected: 0 }],
    ['no pod sample and no demand at the gateway: nothing measured', undefined, { inFlight: 0, held: 0 }, undefined],
  ])('withGatewayLoad: %s', (_what, pods, gateway, expected) => {
    expect(withGatewayLoad(pods, gateway, 4, 2)).toEqual(expected);
  });
});
