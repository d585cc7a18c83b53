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

/** What one download carries from try to try. `hash` is undefined when it must be rebuilt from disk. */
interface DownloadState {
  offset: number;
  hash: Hash | undefined;
  validator: string | undefined;
  attempts: number;
  resumes: number;
}

interface DownloadContext {
  source: RangeSource;
  tempPath: string;
  logger: Logger;
  settings: TransferSettings;
  progress: ProgressReporter;
  state: DownloadState;
}

/** How an opened body relates to the bytes already on disk. */
type StartDecision = 'fresh' | 'resume' | 'restart' | 'mismatch';

/** Pure: a body that starts where asked continues (or begins) the file; one from 0 starts over; anything else is wrong. */
function decideStart(requested: number, start: number): StartDecision {
  if (start === requested) return requested > 0 ? 'resume' : 'fresh';
  return start === 0 ? 'restart' : 'mismatch';
}

/** Opens the source where the file on disk ends, classifying a failure to get a response. */
async function openAt(ctx: DownloadContext): Promise<OpenedBody> {
  return ctx.source.open(ctx.state.offset, ctx.state.validator).catch((err: unknown) => {
    throw classifyTransferError(err, 'request');
  });
}

/** Lines the state up with where the opened body starts; returns the object's size when known. */
function acceptOpened(ctx: DownloadContext, opened: OpenedBody): number | undefined {
  const { state, logger, source, progress } = ctx;
  switch (decideStart(state.offset, opened.start)) {
    case 'mismatch':
      opened.body.destroy();
      throw new FetchError('NetworkError', `server answered a range request at ${state.offset} with one at ${opened.start}`);
    case 'restart':
      logger.info('server sent the whole object instead of a range; starting over', { source: source.label, offset: state.offset });
      state.offset = 0;
      state.hash = createHash('sha256');
      break;
    case 'resume':
      state.resumes++;
      logger.info('resuming download', { source: source.label, offset: state.offset });
      break;
    case 'fresh':
      break;
  }
  state.validator = opened.validator ?? state.validator;
  const total = parseTotal(opened.total);
  progress.setTotal(total);
  progress.set(state.offset);
  return total;
}

interface PumpOutcome {
  writeError?: Error;
  bodyError?: unknown;
}

/** Streams `body` onto the file (appending past `offset`), hashing and counting as it goes; never throws. */
async function pumpBody(body: Readable, ctx: DownloadContext, hash: Hash): Promise<PumpOutcome> {
  const { tempPath, settings, progress } = ctx;
  const outcome: PumpOutcome = {};
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(() => body.destroy(new FetchError('Timeout', `no data for ${settings.idleTimeoutMs} ms`)), settings.idleTimeoutMs);
  };
  const writer = createWriteStream(tempPath, { flags: ctx.state.offset === 0 ? 'w' : 'a' });
  writer.on('error', (err) => {
    outcome.writeError = err;
    body.destroy();
  });
  armIdle();
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      armIdle();
      hash.update(chunk);
      progress.add(chunk.length);
      if (!writer.write(chunk)) await once(writer, 'drain');
    }
  } catch (err) {
    outcome.bodyError = err;
  } finally {
    clearTimeout(idle);
  }
  // Every byte that arrived before a cut is kept, so the next try asks only for the rest.
  if (!writer.destroyed) await new Promise<void>((resolve) => writer.end(resolve));
  return outcome;
}

const sizeOnDisk = (path: string): Promise<number> => stat(path).then((s) => s.size, () => 0);

/** Moves the offset to what is on disk and throws the failure of this try, if any. */
async function settleAttempt(ctx: DownloadContext, outcome: PumpOutcome, total: number | undefined): Promise<void> {
  const { state, tempPath } = ctx;
  if (outcome.writeError !== undefined) {
    state.hash = undefined;
    state.offset = await sizeOnDisk(tempPath);
    throw classifyTransferError(outcome.writeError, `writing ${tempPath}`);
  }
  if (outcome.bodyError !== undefined) {
    state.offset = await sizeOnDisk(tempPath);
    throw classifyTransferError(outcome.bodyError, 'download');
  }
  state.offset = await stat(tempPath).then((s) => s.size);
  if (total !== undefined && state.offset !== total) {
    state.hash = undefined;
    throw new FetchError('NetworkError', `body ended after ${state.offset} of ${total} bytes`);
  }
}

/** One try: open at the current offset, stream the rest onto the file, settle where it got to. */
async function attempt(ctx: DownloadContext): Promise<void> {
  const { state } = ctx;
  state.attempts++;
  const opened = await openAt(ctx);
  const total = acceptOpened(ctx, opened);
  // Bytes hashed but not yet written are lost if the write fails, so the hash is rebuilt from disk then.
  if (state.hash === undefined) state.hash = await hashFilePrefix(ctx.tempPath, state.offset);
  const outcome = await pumpBody(opened.body, ctx, state.hash);
  await settleAttempt(ctx, outcome, total);
}

/** Retry hooks that log each retry with where the download stands, then call the caller's own. */
function loggingRetryHooks(ctx: DownloadContext): RetryHooks {
  const { settings, logger, source, state } = ctx;
  return {
    ...settings.retryHooks,
    onRetry: (err, n, delayMs) => {
      logger.warn('download failed; retrying', {
        source: source.label, attempt: n, delayMs, reason: (err as FetchError).reason, error: (err as Error).message, offset: state.offset,
      });
      settings.retryHooks?.onRetry?.(err, n, delayMs);
    },
  };
}

/** Downloads `source` into `tempPath`; the caller verifies and renames it. The temp file is removed on failure. */
export async function downloadToTemp(source: RangeSource, tempPath: string, logger: Logger, settings: TransferSettings): Promise<TransferResult> {
  await mkdir(dirname(tempPath), { recursive: true });
  // A leftover from an earlier process is of unknown origin: start clean rather than trust it.
  await removeQuietly(tempPath);
  const progress = new ProgressReporter(logger, { source: source.label }, settings.progressIntervalMs);
  const state: DownloadState = { offset: 0, hash: createHash('sha256'), validator: undefined, attempts: 0, resumes: 0 };
  const ctx: DownloadContext = { source, tempPath, logger, settings, progress, state };
  try {
    await withRetry(() => attempt(ctx), settings.retry, loggingRetryHooks(ctx));
  } catch (err) {
    await removeQuietly(tempPath);
    throw err;
  }
  const sha256 = (state.hash ?? (await hashFilePrefix(tempPath, state.offset))).digest('hex');
  progress.finish({ sha256, attempts: state.attempts, resumes: state.resumes });
  return { bytes: state.offset, sha256, attempts: state.attempts, resumes: state.resumes };
}
