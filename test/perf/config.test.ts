import { parsePerfConfig, parseShapes } from '../../perf/config.js';
import { PerfError } from '../../perf/errors.js';

const base = { url: 'http://localhost:8080', model: 'simple' };

test('defaults', () => {
  expect(parsePerfConfig(base)).toMatchObject({
    url: 'http://localhost:8080', model: 'simple', protocol: 'http', binary: false, levels: [{ concurrency: 1 }], durationMs: 10_000, warmupMs: 2000,
    batchSize: 1, inputData: { kind: 'random' }, maxErrorRate: 0, maxDriftPct: 50, timeoutMs: 30_000, maxInflight: 1024, metricsUrl: 'http://localhost:8080/metrics', quiet: false,
  });
});

test.each([
  ['500ms', 500], ['10s', 10_000], ['1.5m', 90_000], ['1m30s', 90_000], ['2h', 7_200_000], ['3', 3000],
])('--duration %s is %d ms', (text, ms) => expect(parsePerfConfig({ ...base, duration: text }).durationMs).toBe(ms));

test.each([
  [{ concurrency: '1,2,4,8' }, { levels: [{ concurrency: 1 }, { concurrency: 2 }, { concurrency: 4 }, { concurrency: 8 }] }],
  [{ rate: '50,100.5' }, { levels: [{ rate: 50 }, { rate: 100.5 }] }],
  [{ maxErrorRate: '1%' }, { maxErrorRate: 0.01 }],
  [{ maxErrorRate: '0.05' }, { maxErrorRate: 0.05 }],
  [{ soak: '1m', maxDrift: '20%' }, { maxDriftPct: 20 }],
  [{ soak: '1m' }, { soakMs: 60_000, soakIntervalMs: 3000 }],
  [{ soak: '10s' }, { soakMs: 10_000, soakIntervalMs: 1000 }],
  [{ soak: '10s', soakInterval: '2s' }, { soakIntervalMs: 2000 }],
  [{ inputData: 'zero' }, { inputData: { kind: 'zero' } }],
  [{ inputData: '/tmp/x.json' }, { inputData: { kind: 'file', path: '/tmp/x.json' } }],
  [{ metricsUrl: 'none' }, { metricsUrl: undefined }],
  [{ url: 'http://h:1/prefix/' }, { url: 'http://h:1/prefix', metricsUrl: 'http://h:1/prefix/metrics' }],
  [{ protocol: 'grpc', url: 'grpc://h:9000' }, { protocol: 'grpc', url: 'grpc://h:9000', metricsUrl: undefined }],
  [{ shape: ['INPUT0:1,16', 'INPUT1:2,16'] }, { shapes: { INPUT0: [1, 16], INPUT1: [2, 16] } }],
])('flags %j', (flags, want) => expect(parsePerfConfig({ ...base, ...flags })).toMatchObject(want));

test.each([
  [{ url: undefined }, '--url: is required'],
  [{ url: 'localhost:8080' }, '--url: "localhost:8080" must be http:// or https://'],
  [{ url: 'not a url' }, '--url: "not a url" is not a URL'],
  [{ model: undefined }, '--model: is required'],
  [{ protocol: 'udp' }, '--protocol: "udp" is not http or grpc'],
  [{ concurrency: '1,2', rate: '10' }, '--concurrency and --rate: give one'],
  [{ concurrency: '0' }, '--concurrency: must be an integer from 1 to 10000, got "0"'],
  [{ concurrency: '1,,2' }, '--concurrency: "1,,2" has an empty entry'],
  [{ concurrency: '2.5' }, '--concurrency: must be an integer from 1 to 10000, got "2.5"'],
  [{ rate: '-1' }, '--rate: must be a number greater than 0 and at most 1000000, got "-1"'],
  [{ duration: '10 parsecs' }, '--duration: must be a duration such as 500ms, 10s, 5m or 1m30s, got "10 parsecs"'],
  [{ duration: '0s' }, '--duration: must be longer than 0, got "0s"'],
  [{ warmup: 'x' }, '--warmup: must be a duration such as 500ms, 10s, 5m or 1m30s, got "x"'],
  [{ soak: '1h', concurrency: '1,2' }, '--soak: holds one load level'],
  [{ soakInterval: '1s' }, '--soak-interval: needs --soak'],
  [{ maxDrift: '10' }, '--max-drift: needs --soak'],
  [{ soak: '1m', duration: '10s' }, '--duration: does not apply to a soak'],
  [{ soak: '1s', soakInterval: '2s' }, '--soak-interval: 2s is longer than --soak 1s'],
  [{ maxErrorRate: '2' }, '--max-error-rate: "2" is not a fraction between 0 and 1'],
  [{ soak: '1m', maxDrift: '-5' }, '--max-drift: "-5" is not a non-negative percentage'],
  [{ shape: ['INPUT0'] }, '--shape: "INPUT0" is not INPUT:d0,d1,...'],
  [{ shape: ['INPUT0:1,x'] }, '--shape: INPUT0: "x" is not a non-negative integer dimension'],
  [{ shape: ['A:1', 'A:2'] }, '--shape: input A is given more than once'],
  [{ batchSize: '0' }, '--batch-size: must be an integer from 1 to 2147483647, got "0"'],
  [{ duration: '31d' }, '--duration: must be a duration such as'],
  [{ soak: '800h' }, '--soak: must be at most 30 days, got "800h"'],
  [{ rate: '2000000' }, '--rate: must be a number greater than 0 and at most 1000000, got "2000000"'],
  [{ maxInflight: 'many' }, '--max-inflight: must be an integer from 1 to 100000, got "many"'],
])('refuses %j', (flags, message) => {
  let err: unknown;
  try {
    parsePerfConfig({ ...base, ...flags });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PerfError);
  expect((err as PerfError).reason).toBe('InvalidArgument');
  expect((err as PerfError).exitCode).toBe(2);
  expect((err as PerfError).message).toContain(message);
});

test('shapes keep names with colons in them', () => {
  expect(parseShapes(['scope:input:4,2'])).toEqual({ 'scope:input': [4, 2] });
});
