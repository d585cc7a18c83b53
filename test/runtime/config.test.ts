// `modelplane serve` settings added for bounded work and draining: defaults and refusals.
import { SERVE_DEFAULTS } from '../../common/serve-contract.js';
import { ConfigError, defaultInflightBytes, parseServeConfig } from '../../runtime/config.js';

const GiB = 1024 ** 3;

test.each([
  ['a cgroup v2 limit', '4294967296\n', 16 * GiB, 1 * GiB],
  ['no cgroup limit (v2 "max")', 'max\n', 16 * GiB, 4 * GiB],
  ['no cgroup file', undefined, 8 * GiB, 2 * GiB],
  ['a v1 "unlimited" above the machine', '9223372036854771712', 8 * GiB, 2 * GiB],
  ['a tiny limit still leaves 64 MiB', '100000000', 8 * GiB, 64 * 1024 * 1024],
])('--max-inflight-bytes defaults to a quarter of the memory: %s', (_name, memoryMax, machine, expected) => {
  expect(defaultInflightBytes(memoryMax, machine)).toBe(expected);
});

test('defaults and flags for timeouts, the budget and draining', () => {
  const d = parseServeConfig({ model: 'm.onnx' });
  expect(d).toMatchObject({ drainSeconds: SERVE_DEFAULTS.drainSeconds, headersTimeoutSeconds: 30, bodyTimeoutSeconds: 30, requestTimeoutSeconds: 300 });
  expect(d.maxInflightBytes).toBe(defaultInflightBytes());
  const set = parseServeConfig({ model: 'm.onnx', drainSeconds: '0', maxInflightBytes: '1048576', headersTimeoutSeconds: '2', bodyTimeoutSeconds: '0', requestTimeoutSeconds: '0' });
  expect(set).toMatchObject({ drainSeconds: 0, maxInflightBytes: 1048576, headersTimeoutSeconds: 2, bodyTimeoutSeconds: 0, requestTimeoutSeconds: 0 });
});

test.each([
  [{ drainSeconds: '-1' }, /^--drain-seconds: must be an integer from 0 to 3600, got "-1"/],
  [{ maxInflightBytes: 'lots' }, /^--max-inflight-bytes: must be an integer of at least 1024, got "lots"/],
  [{ headersTimeoutSeconds: '0' }, /^--headers-timeout-seconds: must be an integer from 1 to 3600/],
  [{ bodyTimeoutSeconds: '1.5' }, /^--body-timeout-seconds: must be an integer/],
  [{ requestTimeoutSeconds: 'x' }, /^--request-timeout-seconds: must be an integer/],
])('a bad value is refused naming the flag: %o', (flags, message) => {
  expect(() => parseServeConfig({ model: 'm.onnx', ...flags })).toThrow(ConfigError);
  expect(() => parseServeConfig({ model: 'm.onnx', ...flags })).toThrow(message);
});
