// One catalogue of the ways a fetch can fail. The reason is a stable code (the operator surfaces it as
// ModelFetchFailed with this reason); `retryable` decides whether the retry loop tries again.

export const FETCH_REASONS = {
  InvalidUri: { exitCode: 2, retryable: false },
  InvalidArgument: { exitCode: 2, retryable: false },
  InvalidCredentials: { exitCode: 2, retryable: false },
  NotFound: { exitCode: 3, retryable: false },
  AccessDenied: { exitCode: 4, retryable: false },
  ChecksumMismatch: { exitCode: 5, retryable: false },
  Timeout: { exitCode: 6, retryable: true },
  PathEscape: { exitCode: 7, retryable: false },
  RequestRejected: { exitCode: 8, retryable: false },
  ServerError: { exitCode: 9, retryable: true },
  NetworkError: { exitCode: 9, retryable: true },
  TooManyRedirects: { exitCode: 10, retryable: false },
  IoError: { exitCode: 11, retryable: false },
  // An archive refused before anything of it is used: not readable as its format, or hostile.
  ArchiveInvalid: { exitCode: 12, retryable: false },
  ArchiveTooLarge: { exitCode: 12, retryable: false },
  ArchiveSpecialFile: { exitCode: 12, retryable: false },
  ArchiveDuplicateEntry: { exitCode: 12, retryable: false },
} as const;

export type FetchReason = keyof typeof FETCH_REASONS;

/** Exit code for anything that is not a FetchError (a bug, or an error nobody classified). */
export const UNEXPECTED_EXIT_CODE = 1;

export class FetchError extends Error {
  readonly reason: FetchReason;
  readonly retryable: boolean;

  constructor(reason: FetchReason, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FetchError';
    this.reason = reason;
    this.retryable = opts.retryable ?? FETCH_REASONS[reason].retryable;
  }
}

export function isFetchError(err: unknown): err is FetchError {
  return err instanceof FetchError;
}

export function exitCodeFor(err: unknown): number {
  return isFetchError(err) ? FETCH_REASONS[err.reason].exitCode : UNEXPECTED_EXIT_CODE;
}

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN',
  'ENOTFOUND', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET',
]);

/** Classifies low-level socket errors; anything already a FetchError passes through unchanged. */
export function classifyTransferError(err: unknown, what: string): FetchError {
  if (isFetchError(err)) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  const code = e?.code ?? '';
  const detail = e?.message ?? String(err);
  if (TIMEOUT_CODES.has(code) || e?.name === 'TimeoutError') return new FetchError('Timeout', `${what}: timed out (${detail})`, { cause: err });
  if (NETWORK_CODES.has(code) || detail === 'aborted') return new FetchError('NetworkError', `${what}: connection failed (${code || detail})`, { cause: err });
  if (code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    return new FetchError('NetworkError', `${what}: TLS verification failed (${code}); put the server's CA in ca.crt in the credentials directory`, { retryable: false, cause: err });
  }
  if (code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS' || code === 'EDQUOT') {
    return new FetchError('IoError', `${what}: cannot write (${code})`, { cause: err });
  }
  return new FetchError('NetworkError', `${what}: ${detail}`, { cause: err });
}
