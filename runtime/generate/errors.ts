// Errors of the generation APIs in OpenAI's shape: {"error": {"message", "type", "param", "code"}}, with the HTTP
// status OpenAI gives each kind. The runtime's own errors (a body too large, the server loading or full) map onto it.
import { RuntimeError } from '../errors.js';

export type ApiErrorType = 'invalid_request_error' | 'not_found_error' | 'server_error';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get type(): ApiErrorType {
    return this.status >= 500 ? 'server_error' : this.status === 404 ? 'not_found_error' : 'invalid_request_error';
  }

  body(): { error: { message: string; type: ApiErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A request field that is wrong: 400 naming it. */
export function badField(param: string, message: string, code: string | null = null): ApiError {
  return new ApiError(400, `${param}: ${message}`, param, code);
}

/** A feature this server does not offer, asked for by a field: 400 naming it (never silently ignored). */
export function unsupported(param: string, what: string): ApiError {
  return new ApiError(400, `${param}: ${what} is not supported by this server`, param, 'unsupported_parameter');
}

const CODES: Partial<Record<RuntimeError['reason'], string>> = {
  QueueFull: 'queue_full',
  InflightBytesExceeded: 'inflight_bytes_exceeded',
  NotReady: 'model_not_ready',
  ShuttingDown: 'shutting_down',
  BodyTooLarge: 'body_too_large',
  RequestTimeout: 'request_timeout',
  UnsupportedEncoding: 'unsupported_encoding',
  ModelNotFound: 'model_not_found',
  VersionNotFound: 'model_not_found',
};

/** Any failure as an OpenAI-shaped error. */
export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof RuntimeError) return new ApiError(err.status, err.message, null, CODES[err.reason] ?? null, err.headers);
  return new ApiError(500, `internal error: ${(err as Error).message}`, null, 'internal_error');
}

/** An OpenAI-shaped error as the Open Inference Protocol's (Triton's generate extension answers in that shape). */
export function asRuntimeError(err: unknown): RuntimeError {
  if (err instanceof RuntimeError) return err;
  if (err instanceof ApiError) {
    const reason = err.status === 404 ? 'ModelNotFound' : err.status === 405 ? 'MethodNotAllowed' : err.status === 503 ? 'QueueFull' : err.status >= 500 ? 'InferenceFailed' : 'InvalidRequest';
    return new RuntimeError(reason, err.message, err.headers);
  }
  return new RuntimeError('Internal', `internal error: ${(err as Error).message}`);
}
