// The runtime's error catalogue (runtime/errors.ts) in gRPC status codes: the same message and reason code as
// over HTTP, each reason mapped once.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { RuntimeError, type ErrorReason } from '../errors.js';

export const GRPC_CODES: Record<ErrorReason, status> = {
  MalformedJson: status.INVALID_ARGUMENT,
  InvalidRequest: status.INVALID_ARGUMENT,
  UnknownInput: status.INVALID_ARGUMENT,
  MissingInput: status.INVALID_ARGUMENT,
  DuplicateInput: status.INVALID_ARGUMENT,
  UnknownOutput: status.INVALID_ARGUMENT,
  DatatypeMismatch: status.INVALID_ARGUMENT,
  UnsupportedDatatype: status.INVALID_ARGUMENT,
  ShapeMismatch: status.INVALID_ARGUMENT,
  DataMismatch: status.INVALID_ARGUMENT,
  BinaryDataMismatch: status.INVALID_ARGUMENT,
  UnsupportedEncoding: status.INVALID_ARGUMENT,
  ModelNotFound: status.NOT_FOUND,
  VersionNotFound: status.NOT_FOUND,
  NotFound: status.NOT_FOUND,
  // A gRPC message arrives whole, so the HTTP body timeouts never fire here; the mapping is for completeness.
  RequestTimeout: status.DEADLINE_EXCEEDED,
  // The message size is what exhausts the budget, as for a message over --max-body-bytes.
  InflightBytesExceeded: status.RESOURCE_EXHAUSTED,
  MethodNotAllowed: status.UNIMPLEMENTED,
  BodyTooLarge: status.RESOURCE_EXHAUSTED,
  QueueFull: status.UNAVAILABLE,
  NotReady: status.UNAVAILABLE,
  ShuttingDown: status.UNAVAILABLE,
  InferenceFailed: status.INTERNAL,
  Internal: status.INTERNAL,
  RepositoryNotSupported: status.UNIMPLEMENTED,
};

/** Trailing metadata key carrying the stable reason code (QueueFull, ShapeMismatch, ...). */
export const REASON_KEY = 'modelplane-reason';
/** gRPC's standard retry pushback: how long a client should wait before retrying, in milliseconds. */
export const RETRY_PUSHBACK_KEY = 'grpc-retry-pushback-ms';

/** The message a client sees: the HTTP message, with retry advice on every UNAVAILABLE that lacks it. */
export function grpcMessage(err: RuntimeError): string {
  if (GRPC_CODES[err.reason] === status.UNAVAILABLE && !/retry/i.test(err.message)) return `${err.message}; retry later`;
  return err.message;
}

export function toServiceError(err: RuntimeError): Partial<ServiceError> {
  const metadata = new Metadata();
  metadata.set(REASON_KEY, err.reason);
  const retryAfter = Number(err.headers['Retry-After']);
  if (Number.isFinite(retryAfter)) metadata.set(RETRY_PUSHBACK_KEY, String(retryAfter * 1000));
  return { code: GRPC_CODES[err.reason], details: grpcMessage(err), metadata };
}
