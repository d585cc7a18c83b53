// Each command's flags parse numbers and durations with the common parsers, and each maps a refusal to its own error:
// commander's InvalidArgumentError, an Error naming the flag for local mode, the runtime's ConfigError, perf's InvalidArgument.
import { InvalidArgumentError } from 'commander';
import { durationArg, integerArg, numberArg } from '../../cli/arg-parsers.js';
import { localSettings } from '../../cli/local.js';
import { ParseError } from '../../common/parse.js';
import { parsePerfConfig } from '../../perf/config.js';
import { PerfError } from '../../perf/errors.js';
import { ConfigError, parseServeConfig } from '../../runtime/config.js';

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('no refusal');
}

test('commander parsers: the value, or InvalidArgumentError with the common message', () => {
  expect(durationArg('--api-timeout', { minMs: 100 })('1m30s')).toBe(90_000);
  expect(integerArg('--workers', { min: 1, max: 1000 })('8')).toBe(8);
  expect(numberArg('--min-cosine')('0.99')).toBe(0.99);
  const err = thrown(() => durationArg('--api-timeout', { minMs: 100 })('50ms'));
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect(err.message).toBe('--api-timeout: must be at least 100 ms, got "50ms"');
  expect(thrown(() => integerArg('--workers', { min: 1, max: 1000 })('0')).message).toBe('--workers: must be an integer from 1 to 1000, got "0"');
});

describe('local mode', () => {
  const base = { filename: ['a.yaml'], port: '0', host: '127.0.0.1', logLevel: 'warn', table: true, autoscaleInterval: '2', drainTimeout: '60' };
  test('seconds or durations, in milliseconds', () => {
    const s = localSettings({ ...base, drainTimeout: '1m30s', autoscaleInterval: '500ms', autoscaleStableWindow: '30', autoscalePanicWindow: '3s' });
    expect(s).toMatchObject({ drainMs: 90_000, autoscaleIntervalMs: 500, tuning: { stableWindowSeconds: 30, panicWindowSeconds: 3 } });
  });
  test.each<[object, string]>([
    [{ port: 'x' }, '--port: must be an integer from 0 to 65535, got "x"'],
    [{ drainTimeout: '0' }, '--drain-timeout: must be longer than 0, got "0"'],
    [{ autoscaleInterval: '2d' }, '--autoscale-interval: must be a duration such as 500ms, 10s, 5m or 1m30s, got "2d"'],
    [{ autoscaleStableWindow: '25h' }, '--autoscale-stable-window: must be at most 24 h, got "25h"'],
  ])('refuses %j naming the flag', (flags, message) => {
    const err = thrown(() => localSettings({ ...base, ...flags }));
    expect(err).toBeInstanceOf(ParseError);
    expect(err.message).toBe(message);
  });
});

test('the runtime: ConfigError with the common message', () => {
  const err = thrown(() => parseServeConfig({ model: 'm.onnx', instances: '0' }));
  expect(err).toBeInstanceOf(ConfigError);
  expect(err.message).toBe('--instances: must be an integer from 1 to 64, got "0"');
});

test('perf: InvalidArgument (exit 2) with the common message', () => {
  const err = thrown(() => parsePerfConfig({ url: 'http://localhost:8080', model: 'm', timeout: 'never' }));
  expect(err).toBeInstanceOf(PerfError);
  expect((err as PerfError).exitCode).toBe(2);
  expect(err.message).toBe('--timeout: must be a duration such as 500ms, 10s, 5m or 1m30s, got "never"');
});
