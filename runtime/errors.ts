// Every error a client of the runtime can see, named once with its HTTP status and a stable reason code.

export const ERRORS = {
  MalformedJson: 400,
  InvalidRequest: 400,
  UnknownInput: 400,
  MissingInput: 400,
  DuplicateInput: 400,
  UnknownOutput: 400,
  DatatypeMismatch: 400,
  UnsupportedDatatype: 400,
  ShapeMismatch: 400,
  DataMismatch: 400,
  BinaryDataMismatch: 400,
  UnsupportedEncoding: 415,
  ModelNotFound: 404,
  VersionNotFound: 404,
  NotFound: 404,
  MethodNotAllowed: 405,
  RequestTimeout: 408,
  BodyTooLarge: 413,
  QueueFull: 503,
  InflightBytesExceeded: 503,
  NotReady: 503,
  ShuttingDown: 503,
  InferenceFailed: 500,
  Internal: 500,
  RepositoryNotSupported: 501,
} as const;

export type ErrorReason = keyof typeof ERRORS;

export class RuntimeError extends Error {
  readonly status: number;
  constructor(readonly reason: ErrorReason, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.status = ERRORS[reason];
  }
}

export function fail(reason: ErrorReason, message: string): never {
  throw new RuntimeError(reason, message);
}

/** The protocol's error body: `{"error": "..."}`, plus the reason code for programs. */
export function errorBody(err: RuntimeError): string {
  return JSON.stringify({ error: err.message, reason: err.reason });
}

/** Any failure as the catalogue sees it: a RuntimeError as it is, anything else an internal error. */
export function asRuntimeError(err: unknown): RuntimeError {
  return err instanceof RuntimeError ? err : new RuntimeError('Internal', `internal error: ${(err as Error).message}`);
}
