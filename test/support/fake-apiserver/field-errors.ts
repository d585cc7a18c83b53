// Field errors as the Kubernetes API server words them (k8s.io/apimachinery/pkg/util/validation/field), and the
// 422 Invalid Status that carries them, so the fake's messages read exactly like a real server's.
import { ApiError } from './store.js';
import type { JsonObject } from './fields.js';

export type FieldErrorType =
  | 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueNotSupported' | 'FieldValueForbidden'
  | 'FieldValueDuplicate' | 'FieldValueTooLong' | 'FieldValueTooMany' | 'FieldValueTypeInvalid' | 'InternalError';

/** What `field.ErrorType.String()` prints for each type. */
const TYPE_TEXT: Record<FieldErrorType, string> = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  FieldValueTypeInvalid: 'Invalid value',
  InternalError: 'Internal error',
};

/** Types whose text never shows the bad value. */
const VALUE_OMITTED = new Set<FieldErrorType>(['FieldValueRequired', 'FieldValueForbidden', 'FieldValueTooLong', 'InternalError']);

export interface ApiFieldError {
  type: FieldErrorType;
  /** `spec.autoscaling.minReplicas`, `spec.scheduling.nodeSelector[gpu]`, or '' for the object itself. */
  field: string;
  /** The bad value; undefined leaves it out, as the server's omitValue does. */
  value?: unknown;
  detail?: string;
}

/** A value as Go's `%v` / `%q` print it in field errors. */
function goValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[]interface {}{${value.map(goValue).join(', ')}}`;
  return `map[string]interface {}{${Object.entries(value as JsonObject).map(([k, v]) => `${JSON.stringify(k)}:${goValue(v)}`).join(', ')}}`;
}

/** `field.Error.ErrorBody()`: the type, the value where it is shown, then the detail. */
export function errorBody(e: ApiFieldError): string {
  let s = TYPE_TEXT[e.type];
  if (!VALUE_OMITTED.has(e.type) && e.value !== undefined) s += `: ${goValue(e.value)}`;
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

/** `field.Error.Error()`. */
export function errorText(e: ApiFieldError): string {
  const body = errorBody(e);
  return e.field ? `${e.field}: ${body}` : body;
}

/** `apierrors.NewInvalid`: a 422 whose message lists every error (bracketed when several) and whose causes name each field. */
export function invalidError(qualifiedKind: string, name: string, errors: ApiFieldError[], group: string, kind: string): ApiError {
  const list = errors.map(errorText);
  const message = `${qualifiedKind} ${JSON.stringify(name)} is invalid: ${list.length === 1 ? list[0] : `[${list.join(', ')}]`}`;
  const causes = errors.map((e) => ({ reason: e.type, message: errorBody(e), field: e.field }));
  return new ApiError(422, 'Invalid', message, { name, group, kind, causes });
}
