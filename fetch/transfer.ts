// The one download loop every remote source shares: stream to a temporary file while hashing, resume
// from the bytes already on disk after a transient failure, retry with backoff, report progress.
// Memory stays flat whatever the size: bytes flow through with back-pressure and are never buffered whole.
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { once } from 'node:events';
import type { Logger } from '../common/logger.js';
import { classifyTransferError, FetchError } from './errors.js';
import { hashFilePrefix, removeQuietly } from './integrity.js';
import { ProgressReporter } from './progress.js';
import { withRetry, type RetryHooks, type RetryPolicy } from './retry.js';

export interface OpenedBody {
  body: Readable;
  /** Where the body starts in the object: the requested offset, or 0 when the server sent it all. */
  start: number;
  /** Size of the whole object, when the server said. */
  total?: number;
  /** ETag or Last-Modified, so a resumed request only continues the same version of the object. */
  validator?: string;
}

/** Something that can stream an object from a byte offset (an HTTP URL, an S3 object). */
export interface RangeSource {
  /** Safe to log: no credentials. */
  readonly label: string;
  open(offset: number, validator: string | undefined): Promise<OpenedBody>;
}

export interface TransferSettings {
  retry: RetryPolicy;
  retryHooks?: RetryHooks;
  /** A body that delivers nothing for this long is abandoned (and retried). */
  idleTimeoutMs: number;
  progressIntervalMs: number;
}

export interface TransferResult {
  bytes: number;
  sha256: string;
  /** Tries it took, 1 when nothing failed. */
  attempts: number;
  /** Times a later try continued from bytes already on disk. */
  resumes: number;
}

function parseTotal(total: number | undefined): number | undefined {
  return total !== undefined && Number.isFinite(total) && total >= 0 ? total : undefined;
}

/** Downloads `source` into `tempPath`; the caller verifies and renames it. The temp file is removed on failure. */
export async function downloadToTemp(source: RangeSource, tempPath: string, logger: Logger, settings: TransferSettings): Promise<TransferResult> {
  await mkdir(dirname(tempPath), { recursive: true });
  // A leftover from an earlier process is of unknown origin: start clean rather than trust it.
  await removeQuietly(tempPath);
  const progress = new ProgressReporter(logger, { source: source.label }, settings.progressIntervalMs);
  let offset = 0;
  let hash: Hash | undefined = createHash('sha256');
  let validator: string | undefined;
  let resumes = 0;
  let attempts = 0;

  const attempt = async (): Promise<void> => {
    attempts++;
    const opened = await source.open(offset, validator).catch((err: unknown) => {
      throw classifyTransferError(err, 'request');
    });
    if (opened.start !== offset) {
      if (opened.start !== 0) {
        opened.body.destroy();
        throw new FetchError('NetworkError', `server answered a range request at ${offset} with one at ${opened.start}`);
      }
      logger.info('server sent the whole object instead of a range; starting over', { source: source.label, offset });
      offset = 0;
      hash = createHash('sha256');
    } else if (offset > 0) {
      resumes++;
      logger.info('resuming download', { source: source.label, offset });
    }
    validator = opened.validator ?? validator;
    const total = parseTotal(opened.total);
    progress.setTotal(total);
    progress.set(offset);
    // Bytes hashed but not yet written are lost if the write fails, so the hash is rebuilt from disk then.
    if (hash === undefined) hash = await hashFilePrefix(tempPath, offset);
    const running = hash;

    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => opened.body.destroy(new FetchError('Timeout', `no data for ${settings.idleTimeoutMs} ms`)),
        settings.idleTimeoutMs,
      );
    };
    const writer = createWriteStream(tempPath, { flags: offset === 0 ? 'w' : 'a' });
    let writeError: Error | undefined;
    writer.on('error', (err) => {
      writeError = err;
      opened.body.destroy();
    });
    let bodyError: unknown;
    armIdle();
    try {
      for await (const chunk of opened.body as AsyncIterable<Buffer>) {
        armIdle();
        running.update(chunk);
        progress.add(chunk.length);
        if (!writer.write(chunk)) await once(writer, 'drain');
      }
    } catch (err) {
      bodyError = err;
    } finally {
      clearTimeout(idle);
    }
    // Every byte that arrived before a cut is kept, so the next try asks only for the rest.
    if (!writer.destroyed) await new Promise<void>((resolve) => writer.end(resolve));
    if (writeError !== undefined) {
      hash = undefined;
      offset = await stat(tempPath).then((s) => s.size, () => 0);
      throw classifyTransferError(writeError, `writing ${tempPath}`);
    }
    if (bodyError !== undefined) {
      offset = await stat(tempPath).then((s) => s.size, () => 0);
      throw classifyTransferError(bodyError, 'download');
    }
    offset = await stat(tempPath).then((s) => s.size);
    if (total !== undefined && offset !== total) {
      hash = undefined;
      throw new FetchError('NetworkError', `body ended after ${offset} of ${total} bytes`);
    }
  };

  try {
    await withRetry(attempt, settings.retry, {
      ...settings.retryHooks,
      onRetry: (err, n, delayMs) => {
        logger.warn('download failed; retrying', {
          source: source.label, attempt: n, delayMs, reason: (err as FetchError).reason, error: (err as Error).message, offset,
        });
        settings.retryHooks?.onRetry?.(err, n, delayMs);
      },
    });
  } catch (err) {
    await removeQuietly(tempPath);
    throw err;
  }
  const sha256 = (hash as Hash | undefined)?.digest('hex') ?? (await hashFilePrefix(tempPath, offset)).digest('hex');
  progress.finish({ sha256, attempts, resumes });
  return { bytes: offset, sha256, attempts, resumes };
}
