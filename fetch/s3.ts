// s3:// sources through the AWS SDK v3: AWS itself or any S3-compatible store (custom endpoint,
// path-style). The SDK's own retries are off: the shared transfer loop retries and resumes instead.
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { classifyTransferError, FetchError } from './errors.js';
import type { S3Settings } from './credentials.js';
import type { OpenedBody, RangeSource } from './transfer.js';
import { parseContentRange } from './http.js';

export interface S3Options {
  settings: S3Settings;
  ca?: string;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
}

export interface S3ObjectInfo {
  key: string;
  size: number;
}

interface SdkError {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound']);
const DENIED = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled',
  'AuthorizationHeaderMalformed', 'InvalidClientTokenId',
]);

/** The reason an S3 error stands for; `what` names the object or bucket in the message. */
export function s3Error(err: unknown, what: string): FetchError {
  if (err instanceof FetchError) return err;
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  // Answers without a body (HEAD) carry no error code; the SDK calls those 'Unknown'.
  const rawName = e.name ?? e.Code ?? '';
  const name = rawName === 'Unknown' || rawName === 'Error' ? (status !== undefined ? `HTTP ${status}` : '') : rawName;
  if (name === 'NoSuchBucket') return new FetchError('NotFound', `${what}: bucket does not exist (NoSuchBucket)`);
  if (NOT_FOUND.has(name) || status === 404) return new FetchError('NotFound', `${what}: not found (${name || 404})`);
  if (DENIED.has(name) || status === 401 || status === 403) return new FetchError('AccessDenied', `${what}: access denied (${name || status})`);
  if (name === 'CredentialsProviderError') return new FetchError('InvalidCredentials', `${what}: no S3 credentials found (${e.message ?? name})`);
  if (name === 'TimeoutError' || name === 'RequestTimeout') return new FetchError('Timeout', `${what}: timed out (${e.message ?? name})`);
  if (status !== undefined && (status >= 500 || status === 429)) return new FetchError('ServerError', `${what}: server error (${name || status})`, { retryable: true });
  if (status !== undefined && status >= 400) return new FetchError('RequestRejected', `${what}: request rejected (${name || status}: ${e.message ?? ''})`);
  return classifyTransferError(err, what);
}

export function createS3Client(opts: S3Options): S3Client {
  // The SDK warns on stderr about future Node versions; the fetch process's stderr is kept for its one failure line.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { settings } = opts;
  const config: S3ClientConfig = {
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: opts.connectTimeoutMs,
      requestTimeout: opts.responseTimeoutMs,
      ...(opts.ca !== undefined ? { httpsAgent: new Agent({ ca: [...rootCertificates, opts.ca], keepAlive: true }) } : {}),
    },
  };
  if (settings.endpoint !== undefined) config.endpoint = settings.endpoint;
  if (settings.accessKeyId !== undefined && settings.secretAccessKey !== undefined) {
    config.credentials = {
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
      ...(settings.sessionToken !== undefined ? { sessionToken: settings.sessionToken } : {}),
    };
  }
  return new S3Client(config);
}

export function s3Label(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/** Whether a key names one object; undefined when it does not exist (it may still be a prefix). */
export async function headObject(client: S3Client, bucket: string, key: string): Promise<{ size: number } | undefined> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: head.ContentLength ?? 0 };
  } catch (err) {
    const mapped = s3Error(err, s3Label(bucket, key));
    if (mapped.reason === 'NotFound') return undefined;
    throw mapped;
  }
}

/** Every object under a prefix, except the zero-byte "folder" markers some tools create. */
export async function listObjects(client: S3Client, bucket: string, prefix: string): Promise<S3ObjectInfo[]> {
  const out: S3ObjectInfo[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    } catch (err) {
      throw s3Error(err, s3Label(bucket, prefix));
    }
    for (const obj of page.Contents ?? []) {
      if (obj.Key === undefined || obj.Key.endsWith('/')) continue;
      out.push({ key: obj.Key, size: obj.Size ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export function s3ObjectSource(client: S3Client, bucket: string, key: string): RangeSource {
  const label = s3Label(bucket, key);
  const open = async (offset: number, validator: string | undefined): Promise<OpenedBody> => {
    let res;
    try {
      res = await client.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ...(offset > 0 ? { Range: `bytes=${offset}-`, ...(validator !== undefined ? { IfMatch: validator } : {}) } : {}),
        }),
      );
    } catch (err) {
      const e = err as SdkError;
      // The object changed since the first bytes: only a fresh start gives a consistent file.
      if (offset > 0 && (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412)) return open(0, undefined);
      if (offset > 0 && e.$metadata?.httpStatusCode === 416) return open(0, undefined);
      throw s3Error(err, label);
    }
    const body = res.Body as Readable | undefined;
    if (body === undefined) throw new FetchError('NetworkError', `${label}: empty response`);
    const range = parseContentRange(res.ContentRange);
    const start = range.start ?? 0;
    const total = range.total ?? (start === 0 ? res.ContentLength : undefined);
    return { body, start, ...(total !== undefined ? { total } : {}), ...(res.ETag !== undefined ? { validator: res.ETag } : {}) };
  };
  return { label, open };
}
