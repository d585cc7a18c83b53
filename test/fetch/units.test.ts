import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCredentials, resolveCredentials } from '../../fetch/credentials.js';
import { classifyTransferError, exitCodeFor, FetchError } from '../../fetch/errors.js';
import { parseSha256 } from '../../fetch/integrity.js';
import { ProgressReporter, progressFields } from '../../fetch/progress.js';
import { backoffDelayMs, withRetry, type RetryPolicy } from '../../fetch/retry.js';
import { httpStatusError, parseContentRange } from '../../fetch/http.js';
import { s3Error } from '../../fetch/s3.js';
import { failureLine } from '../../fetch/command.js';
import { memoryLogger, tempDir } from './support/helpers.js';

describe('credentials', () => {
  test('files win over the environment; the environment fills the gaps', () => {
    const creds = resolveCredentials(
      { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_ENDPOINT_URL: 'http://minio:9000' },
      { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://ignored:1', S3_FORCE_PATH_STYLE: 'true' },
    );
    expect(creds.s3).toEqual({ accessKeyId: 'AK', secretAccessKey: 'SK', region: 'eu-west-1', endpoint: 'http://minio:9000', forcePathStyle: true });
  });

  test('defaults: us-east-1, virtual-hosted style, keys left to the SDK chain', () => {
    expect(resolveCredentials({}, {})).toEqual({ s3: { region: 'us-east-1', forcePathStyle: false } });
  });

  test.each([
    [{ AWS_ACCESS_KEY_ID: 'AK' }, /given together/],
    [{ S3_FORCE_PATH_STYLE: 'maybe' }, /S3_FORCE_PATH_STYLE must be true or false/],
    [{ AWS_ENDPOINT_URL: 'minio:9000' }, /AWS_ENDPOINT_URL must be an http\(s\) URL/],
  ])('%j is refused', (files, message) => {
    expect(() => resolveCredentials(files, {})).toThrow(message);
  });

  test('reads a directory laid out like a mounted Secret (symlinked keys, trailing newlines)', async () => {
    const dir = await tempDir();
    try {
      // A Secret volume: the keys are symlinks into a timestamped data directory.
      await mkdir(join(dir.path, '..data'));
      await writeFile(join(dir.path, '..data', 'authorization'), 'Bearer abc\n');
      await writeFile(join(dir.path, '..data', 'AWS_REGION'), 'ap-south-1\n');
      await symlink('..data/authorization', join(dir.path, 'authorization'));
      await symlink('..data/AWS_REGION', join(dir.path, 'AWS_REGION'));
      const creds = loadCredentials(dir.path, {});
      expect(creds.authorization).toBe('Bearer abc');
      expect(creds.s3.region).toBe('ap-south-1');
    } finally {
      await dir.cleanup();
    }
  });

  test('a credentials directory that did not mount is an error', () => {
    expect(() => loadCredentials('/no/such/dir', {})).toThrow(expect.objectContaining({ reason: 'InvalidCredentials' }));
  });
});

describe('retry', () => {
  const policy: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 350 };

  test('backoff doubles up to the cap, with full jitter', () => {
    expect([0, 1, 2, 3, 10].map((n) => backoffDelayMs(n, policy, () => 0.999999))).toEqual([99, 199, 349, 349, 349]);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
  });

  test('retryable errors are retried until the attempts run out', async () => {
    const delays: number[] = [];
    let calls = 0;
    const err = await withRetry(
      async () => {
        calls++;
        throw new FetchError('ServerError', 'HTTP 503');
      },
      policy,
      { sleep: async (ms) => void delays.push(ms), random: () => 0.5 },
    ).catch((e: unknown) => e);
    expect((err as FetchError).reason).toBe('ServerError');
    expect(calls).toBe(4);
    expect(delays).toEqual([50, 100, 175]);
  });

  test.each(['NotFound', 'AccessDenied', 'ChecksumMismatch', 'PathEscape'] as const)('%s is not retried', async (reason) => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new FetchError(reason, 'x');
      }, policy, { sleep: async () => undefined }),
    ).rejects.toMatchObject({ reason });
    expect(calls).toBe(1);
  });

  test('success after failures returns the value', async () => {
    let calls = 0;
    const value = await withRetry(async (attempt) => {
      calls++;
      if (attempt < 3) throw new FetchError('Timeout', 'slow');
      return 'ok';
    }, policy, { sleep: async () => undefined });
    expect([value, calls]).toEqual(['ok', 3]);
  });
});

describe('progress', () => {
  test.each([
    [50, 200, 1000, { bytes: 50, total: 200, percent: 25, bytesPerSecond: 50 }],
    [1, 3, 0, { bytes: 1, total: 3, percent: 33.3, bytesPerSecond: 0 }],
    [10, undefined, 2000, { bytes: 10, total: null, percent: null, bytesPerSecond: 5 }],
    [0, 0, 10, { bytes: 0, total: 0, percent: 100, bytesPerSecond: 0 }],
  ])('%i of %s bytes after %i ms', (bytes, total, elapsed, expected) => {
    expect(progressFields(bytes, total, elapsed)).toEqual(expected);
  });

  test('reports at most once per interval, and once at the end', () => {
    let now = 0;
    const { logger, entries } = memoryLogger();
    const p = new ProgressReporter(logger, { source: 'x' }, 5000, () => now);
    p.setTotal(1000);
    for (let i = 0; i < 10; i++) {
      now += 1000;
      p.add(100);
    }
    p.finish();
    expect(entries.map((e) => [e.message, e.bytes])).toEqual([
      ['download progress', 500],
      ['download progress', 1000],
      ['download complete', 1000],
    ]);
  });
});

describe('error catalogue', () => {
  test.each([
    [401, 'AccessDenied'], [403, 'AccessDenied'], [404, 'NotFound'], [410, 'NotFound'], [408, 'Timeout'],
    [429, 'ServerError'], [500, 'ServerError'], [503, 'ServerError'], [400, 'RequestRejected'], [416, 'RequestRejected'],
  ])('HTTP %i is %s', (status, reason) => {
    expect(httpStatusError(status, undefined).reason).toBe(reason);
  });

  test.each([
    [{ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }, 'NotFound'],
    [{ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }, 'NotFound'],
    [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, 'AccessDenied'],
    [{ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } }, 'AccessDenied'],
    [{ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }, 'ServerError'],
    [{ name: 'TimeoutError' }, 'Timeout'],
    [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'NetworkError'],
  ])('S3 %j is %s', (err, reason) => {
    expect(s3Error(err, 's3://b/k').reason).toBe(reason);
  });

  test.each([
    ['ETIMEDOUT', 'Timeout', true],
    ['ECONNREFUSED', 'NetworkError', true],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'NetworkError', false],
    ['ENOSPC', 'IoError', false],
  ])('socket error %s is %s (retryable: %s)', (code, reason, retryable) => {
    const e = classifyTransferError(Object.assign(new Error(code), { code }), 'x');
    expect([e.reason, e.retryable]).toEqual([reason, retryable]);
  });

  test('exit codes are stable per reason', () => {
    expect(exitCodeFor(new FetchError('NotFound', ''))).toBe(3);
    expect(exitCodeFor(new FetchError('AccessDenied', ''))).toBe(4);
    expect(exitCodeFor(new FetchError('ChecksumMismatch', ''))).toBe(5);
    expect(exitCodeFor(new Error('bug'))).toBe(1);
  });

  test('Content-Range parsing', () => {
    expect(parseContentRange('bytes 100-199/1000')).toEqual({ start: 100, total: 1000 });
    expect(parseContentRange('bytes */1000')).toEqual({ total: 1000 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5 });
    expect(parseContentRange(undefined)).toEqual({});
  });

  test('sha256 digests are normalized', () => {
    expect(parseSha256(`sha256:${'AB'.repeat(32)}`)).toBe('ab'.repeat(32));
    expect(() => parseSha256('abc')).toThrow(expect.objectContaining({ reason: 'InvalidArgument' }));
  });

  test('the failure line names the URI without its secrets, on one line', () => {
    const uri = 'https://u:p@h/a.onnx?X-Amz-Signature=s3cr3t';
    const line = failureLine(uri, new FetchError('NotFound', `HTTP 404 for ${uri}\nmore`));
    expect(line).toBe('fetch https://h/a.onnx?X-Amz-Signature=REDACTED failed: NotFound: HTTP 404 for https://h/a.onnx?X-Amz-Signature=REDACTED more');
  });
});
